"""Processes benchmark of the molecule pipelines: ``python -m benchmarks.molecules_processes``.

Where a second intra-op thread does not pay (the shipped qm9 network, ``benchmarks/molecules_
threads.py``), work that splits cleanly can go to a second process instead. This script
measures that as a user runs it, one ``fick`` command at a time, every process on one thread
(``--threads 1``, which ``fick`` exports to the processes Lightning starts):

- ``sample``: ``fick sample qm9 -n N --devices P --accelerator cpu --threads 1`` at P = 1 and
  2: shards of 64 molecules (shard i with seed i), one process looping over them or
  Lightning's predict loop sharing them out over two. The rate is the one ``fick sample``
  prints (molecules over the time from the start of drawing to the last shard on disk, so the
  second process's start, imports and model load count against it: ``--n 10000`` for a rate
  closer to the steady one); both runs must write the same SDF;
- ``train``: ``fick train configs/molecules/qm9-sc.yaml --threads 1`` for a step budget (no
  validation, no sampling, own MLflow store and output folder below ``outputs/benchmarks``)
  on one process, and with ``--set trainer.devices=2 --set trainer.strategy=ddp`` on two
  (DDP over gloo, each process a batch of 64: twice the molecules per step). The rate is
  molecules per second between the logged steps after the warm-up (compilation of the EGNN
  layers, the first steps), from the timestamps of ``train/loss`` in MLflow.

The variants run in turn, their order reversed every repeat; the table gives medians. The
section goes into BENCHMARKS.md ("molecules-processes"). Run it on a quiet machine: each
two-process variant takes both cores of a 2-core machine. ``--quick`` (16 molecules at 5
steps, 8 training steps of 16 molecules, eager, one repeat) is a smoke test of a few minutes.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._sections import (
    add_output_arguments,
    command_line,
    output_dir,
    publish,
    run,
    script_parser,
    utc_stamp,
)

__all__ = ["main", "sample_once", "steady_rate", "train_once"]

MODEL = "qm9"
CONFIG = "configs/molecules/qm9-sc.yaml"
PROCESSES = (1, 2)
SAMPLE_LINE = re.compile(r"(\d+) samples in ([\d.]+) s \(([\d.]+)/s\)")
FINISHED = re.compile(r"fick: run (\w+) finished")
NO_VALIDATION = 100_000_000  # steps: never within the budget
# the launcher's variables of an enclosing run would make the commands join it
INHERITED = ("FICK_RUN_ID", "FICK_RUN_DIR", "FICK_TRACKING_URI", "FICK_SAMPLE_OUT",
             "MLFLOW_RUN_ID", "OMP_NUM_THREADS", "LOCAL_RANK", "RANK", "WORLD_SIZE",
             "MASTER_ADDR", "MASTER_PORT", "NODE_RANK")


def _fick() -> str:
    """The ``fick`` console script of this interpreter (as a user types it)."""
    beside = Path(sys.executable).with_name("fick")
    return str(beside) if beside.is_file() else (shutil.which("fick") or "fick")


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in INHERITED}
    return {**env, **extra}


def _command(argv: list[str], log: Path, env: dict[str, str]) -> tuple[str, float]:
    """Run ``fick ARGV``; its output (also written to ``log``) and wall-clock seconds."""
    started = time.perf_counter()
    proc = subprocess.run([_fick(), *argv], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise RuntimeError(f"`fick {' '.join(argv[:3])} ...` exited {proc.returncode} (log "
                           f"{log}): " + " | ".join(tail))
    return proc.stdout, seconds


def _sdf_digest(folder: Path) -> str:
    """One digest of the SDF files in ``folder``: the molecules as ``fick evaluate`` reads
    them. (The other formats differ below SDF's 4 decimals: with several processes rank 0
    merges the shards by reading their SDF back, so its XYZ and HTML carry rounded
    coordinates.)"""
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.sdf")):
        h.update(path.relative_to(folder).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def sample_once(processes: int, args, folder: Path) -> dict:
    """``fick sample`` on ``processes`` processes: its rate, wall time, samples' digest."""
    out = folder / f"samples-{processes}"
    shutil.rmtree(out, ignore_errors=True)
    argv = ["sample", MODEL, "-n", str(args.n), "--steps", str(args.steps), "--seed", "0",
            "--batch-size", str(args.batch_size), "--devices", str(processes),
            "--accelerator", "cpu", "--threads", "1", "--no-track", "--out", str(out)]
    stdout, wall = _command(argv, folder / f"sample-{processes}.log", _environment())
    found = SAMPLE_LINE.search(stdout)
    if found is None or int(found.group(1)) != args.n:
        raise RuntimeError(f"fick sample did not report {args.n} samples: {stdout[-300:]}")
    return {"rate": float(found.group(3)), "seconds": float(found.group(2)), "wall": wall,
            "digest": _sdf_digest(out)}


def steady_rate(points: list[tuple[int, int]], skip: int, molecules_per_step: int) -> float:
    """Molecules per second between the first logged step at or after ``skip`` and the last
    one; ``points``: (step, timestamp in ms)."""
    after = sorted(p for p in points if p[0] >= skip)
    if len(after) < 2 or after[-1][1] <= after[0][1]:
        raise RuntimeError(f"too few logged steps after step {skip}: {after}")
    (s0, t0), (s1, t1) = after[0], after[-1]
    return (s1 - s0) * molecules_per_step / ((t1 - t0) / 1000)


def train_once(processes: int, args, folder: Path, repeat: int) -> dict:
    """``fick train`` for ``args.train_steps`` steps on ``processes`` processes: the steady
    rate (molecules/s), the fit seconds it logged, the command's wall time."""
    import mlflow

    store = folder / "mlflow.db"
    sets = [f"train.max_steps={args.train_steps}", f"train.batch_size={args.train_batch}",
            f"train.val_every_n_steps={NO_VALIDATION}",
            f"train.checkpoint_every_n_steps={NO_VALIDATION}",
            f"train.log_every_n_steps={args.log_every}", "sample.n=0",
            "tracking.system_metrics=false", f"train.output_dir={folder / 'runs'}",
            f"tracking.run_name=processes-{processes}-repeat-{repeat}",
            "trainer.accelerator=cpu", f"model.compile={str(args.compile).lower()}"]
    if processes > 1:
        sets += [f"trainer.devices={processes}", "trainer.strategy=ddp"]
    argv = ["train", CONFIG, "--threads", "1", *[a for s in sets for a in ("--set", s)]]
    env = _environment(MLFLOW_TRACKING_URI=f"sqlite:///{store}")
    stdout, wall = _command(argv, folder / f"train-{processes}-{repeat}.log", env)
    found = FINISHED.search(stdout)
    if found is None:
        raise RuntimeError(f"fick train did not report a finished run: {stdout[-300:]}")
    client = mlflow.tracking.MlflowClient(f"sqlite:///{store}")
    history = client.get_metric_history(found.group(1), "train/loss")
    points = [(m.step, m.timestamp) for m in history]
    fit = client.get_run(found.group(1)).data.metrics.get("train/fit_seconds", float("nan"))
    rate = steady_rate(points, args.warmup_steps, args.train_batch * processes)
    return {"rate": rate, "fit": fit, "wall": wall}


def _median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def table(sampled: dict, trained: dict, args) -> str:
    head = ["work", "processes x threads", "molecules/s", "speed-up over 1 process",
            "molecules/s per process", "seconds (fick's timer)", "wall-clock of the command (s)",
            "same SDF as 1 process"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 3) + "---|"]
    for work, results in (("sample", sampled), ("train", trained)):
        if not results:
            continue
        base = _median(results[1], "rate")
        for processes in PROCESSES:
            rs = results[processes]
            rate = _median(rs, "rate")
            timer = _median(rs, "seconds" if work == "sample" else "fit")
            same = ""
            if work == "sample":
                same = "yes" if all(r["digest"] == sampled[1][0]["digest"] for r in rs) else "NO"
            lines.append(f"| {work} | {processes} x 1 | {rate:.1f} | {rate / base:.2f}x | "
                         f"{rate / processes:.1f} | {timer:.1f} | {_median(rs, 'wall'):.1f} | "
                         f"{same} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = script_parser(__doc__, "benchmarks.molecules_processes")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 16 molecules at 5 steps, 8 training steps of 16, eager")
    parser.add_argument("--works", nargs="+", choices=["sample", "train"],
                        default=["sample", "train"])
    parser.add_argument("--n", type=int, default=None, help="molecules to sample (default 1000)")
    parser.add_argument("--steps", type=int, default=None,
                        help="sampling steps (default 50, the model's)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="molecules per sampling shard (default 64)")
    parser.add_argument("--train-steps", type=int, default=None, help="default 100")
    parser.add_argument("--train-batch", type=int, default=None,
                        help="molecules per step and process (default 64, the config's)")
    parser.add_argument("--warmup-steps", type=int, default=None,
                        help="steps left out of the training rate (default 20)")
    parser.add_argument("--repeats", type=int, default=None, help="default 2 (1 with --quick)")
    parser.add_argument("--eager", action="store_true",
                        help="train without the config's torch.compile (always with --quick)")
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {"n": (1000, 16), "steps": (50, 5), "batch_size": (64, 8),
                "train_steps": (100, 8), "train_batch": (64, 16), "warmup_steps": (20, 2),
                "repeats": (2, 1)}
    for key, (full, small) in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, small if quick else full)
    args.compile = not (quick or args.eager)
    args.log_every = 2 if quick else 5
    folder = output_dir("molecules-processes")
    load = os.getloadavg()[0]
    t_start = time.perf_counter()
    sampled: dict = {p: [] for p in PROCESSES} if "sample" in args.works else {}
    trained: dict = {p: [] for p in PROCESSES} if "train" in args.works else {}
    for r in range(args.repeats):
        order = PROCESSES if r % 2 == 0 else PROCESSES[::-1]
        for processes in order:
            for work, results in (("sample", sampled), ("train", trained)):
                if not results:
                    continue
                result = (sample_once(processes, args, folder) if work == "sample"
                          else train_once(processes, args, folder, r))
                results[processes].append(result)
                print(f"  {work}, {processes} process(es): {result['rate']:.1f} molecules/s, "
                      f"command {result['wall']:.0f} s", file=sys.stderr, flush=True)
    compiled = "compiled EGNN layers (the config's)" if args.compile else "eager"
    body = (
        "### Molecules: one process or two, one thread each\n\n"
        f"`{command_line('molecules_processes', argv)}` on {utc_stamp()}, "
        f"{os.cpu_count()} logical CPUs, load average {load:.2f} at the start, "
        f"{args.repeats} repeat(s), {time.perf_counter() - t_start:.0f} s in all. "
        f"Sample: `fick sample {MODEL} -n {args.n} --steps {args.steps} --batch-size "
        f"{args.batch_size} --devices P --accelerator cpu --threads 1`; its rate covers drawing "
        "and the start of the second process (imports, model load), not the command's own "
        "start or the export." + (" Train: `fick train "
        f"{CONFIG} --threads 1`, {args.train_steps} steps of {args.train_batch} molecules per "
        f"process, {compiled}, no validation; at P = 2 DDP on CPU (gloo), so a step holds "
        f"{2 * args.train_batch} molecules; molecules/s between logged steps {args.warmup_steps}"
        f" and {args.train_steps} (MLflow timestamps of train/loss), seconds: train/fit_seconds."
        if trained else "")
        + " Same SDF: sample.sdf byte for byte that of the 1-process run (the 2-process run's"
        " XYZ and HTML are written from the shards' SDF read back: coordinates to 4 decimals)."
        "\n\n" + table(sampled, trained, args)
    )
    publish(args, "molecules-processes", body)
    return 0


if __name__ == "__main__":
    run(main)
