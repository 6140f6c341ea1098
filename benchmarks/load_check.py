"""Load check: many ``fick`` commands at once against one tracking store.

K ``fick sample`` commands (default 8, each with its default output folder) and one short
``fick train`` start together against a store that does not exist yet, first a SQLite file,
then a real ``mlflow server`` (started here on 127.0.0.1, a free port, and stopped after).
Checked: every command exits 0, no run is left RUNNING, every sampling run has its metrics and
the training its loss curve, no two samplings share an output folder. The table goes into the
``load-check`` section of BENCHMARKS.md; whatever fails is reported there, not hidden.

    OMP_NUM_THREADS=1 python -m benchmarks.load_check                  # 8 + 1, both stores
    python -m benchmarks.load_check --concurrent 2 -n 2 --steps 5 --train-steps 4 \\
        --write /tmp/BENCHMARKS.md                                     # a quick look
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from benchmarks._mlflow_server import mlflow_server

ROOT = Path(__file__).resolve().parent.parent
TRAIN_CONFIG = ROOT / "configs" / "molecules" / "qm9-tiny.yaml"
SAMPLE_EXPERIMENT = "load-check-samples"


@dataclass
class Outcome:
    name: str
    code: int | None  # None: still running at the deadline (then killed)
    seconds: float
    error: str = ""  # the last line a failed command printed


def _last_line(log: Path) -> str:
    """The last meaningful line of a command's output: its error, when it failed."""
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith(("warnings.warn", "^"))]
    line = lines[-1].replace("`", "'") if lines else "(no output)"
    return line if len(line) <= 200 else line[:201].rsplit(" ", 1)[0] + " ..."


def _fick() -> list[str]:
    script = Path(sys.executable).with_name("fick")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "fick.pipelines.cli"]


def run_commands(commands: dict[str, list[str]], cwd: Path, uri: str,
                 timeout: float) -> list[Outcome]:
    """Start every command at once (store ``uri``), wait for all; kill any past ``timeout``."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    env.pop("FICK_SAMPLE_OUT", None)
    procs = {}
    for name, cmd in commands.items():
        log = cwd / f"{name}.log"
        handle = open(log, "w")
        procs[name] = (subprocess.Popen(cmd, cwd=cwd, env=env, stdout=handle,
                                        stderr=subprocess.STDOUT), handle, log, time.time())
    ended: dict[str, float] = {}
    deadline = time.time() + timeout
    while len(ended) < len(procs) and time.time() < deadline:
        for name, (proc, *_rest) in procs.items():
            if name not in ended and proc.poll() is not None:
                ended[name] = time.time()  # each command's own duration, polled
        time.sleep(0.2)
    outcomes = []
    for name, (proc, handle, log, started) in procs.items():
        code = proc.poll()
        if name not in ended:  # past the deadline
            proc.kill()
            proc.wait()
            ended[name], code = time.time(), None
        handle.close()
        why = "" if code == 0 else ("killed at the deadline" if code is None else _last_line(log))
        outcomes.append(Outcome(name, code, ended[name] - started, why))
    return outcomes


def inspect_store(uri: str, samplers: int, train_steps: int) -> dict:
    """Runs by status, sampling runs with their metric, the training's loss points (one per
    step: ``train_steps`` when none is lost)."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    exps = client.search_experiments()
    runs = list(client.search_runs([e.experiment_id for e in exps])) if exps else []
    sampling = [r for r in runs if r.data.tags.get("fick.kind") == "samples"]
    training = [r for r in runs if r.data.tags.get("fick.kind") != "samples"]
    loss_points = sum(len(client.get_metric_history(r.info.run_id, "train/loss"))
                      for r in training)
    return {
        "statuses": Counter(r.info.status for r in runs),
        "sampling_runs": len(sampling),
        "sampling_with_metrics": sum("sample/items_per_s" in r.data.metrics for r in sampling),
        "training_runs": len(training),
        "training_finished": sum(r.info.status == "FINISHED" for r in training),
        "loss_points": loss_points,
        "expected_samplers": samplers,
        "expected_loss_points": train_steps,
    }


def check_store(label: str, uri: str, work: Path, args) -> dict:
    """One round: K samplers + one training against ``uri``; returns the row's facts."""
    commands = {
        f"sample-{k}": [*_fick(), "sample", args.model, "-n", str(args.n), "--seed", str(k),
                        "--experiment", SAMPLE_EXPERIMENT,
                        *(["--steps", str(args.steps)] if args.steps else [])]
        for k in range(args.concurrent)
    }
    if args.train_steps:
        commands["train"] = [*_fick(), "train", str(args.train_config),
                             "--set", f"train.max_steps={args.train_steps}",
                             "--set", "train.log_every_n_steps=1",  # one loss point a step
                             "--set", "tracking.system_metrics=false"]
    started = time.time()
    outcomes = run_commands(commands, work, uri, args.timeout)
    wall = time.time() - started
    try:
        store = inspect_store(uri, args.concurrent, args.train_steps)
    except Exception as err:  # noqa: BLE001 - a broken store is a finding, not a crash
        store = {"error": f"{type(err).__name__}: {' '.join(str(err).split())[:160]}"}
    folders = [p for p in (work / "outputs" / "samples").glob("*") if p.is_dir()]
    whole = [p for p in folders if (p / "fick-samples.yaml").is_file()]
    return {"label": label, "outcomes": outcomes, "wall": wall, "store": store,
            "folders": len(folders), "whole_folders": len(whole), "train": bool(args.train_steps)}


def _row(r: dict) -> str:
    outs, store = r["outcomes"], r["store"]
    ok = sum(o.code == 0 for o in outs)
    slowest = max((o.seconds for o in outs), default=0.0)
    if "error" in store:
        runs = f"store unreadable: {store['error']}"
        return f"| {r['label']} | {ok}/{len(outs)} | {r['wall']:.0f} | {slowest:.0f} | {runs} |" \
            " - | - | - | - |"
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(store["statuses"].items())) or "none"
    sampling = f"{store['sampling_with_metrics']}/{store['expected_samplers']}"
    training = (f"{store['training_finished']} finished, loss at "
                f"{store['loss_points']}/{store['expected_loss_points']} steps"
                if r["train"] else "-")
    folders = f"{r['whole_folders']} whole / {r['folders']}"
    return (f"| {r['label']} | {ok}/{len(outs)} | {r['wall']:.0f} | {slowest:.0f} | {statuses} |"
            f" {store['statuses'].get('RUNNING', 0)} | {sampling} | {training} | {folders} |")


def _verdict(r: dict) -> bool:
    store = r["store"]
    return (all(o.code == 0 for o in r["outcomes"]) and "error" not in store
            and store["statuses"].get("RUNNING", 0) == 0
            and store["sampling_with_metrics"] == store["expected_samplers"]
            and (not r["train"] or (store["training_finished"] == 1
                                    and store["loss_points"] == store["expected_loss_points"]))
            and r["whole_folders"] == store["expected_samplers"])


def report(rows: list[dict], command: str) -> str:
    lines = [
        "## Load check: concurrent commands on one store",
        "",
        f"`{command}` on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU cores. Each row: "
        "the commands started in the same instant against a store that did not exist yet "
        "(SQLite file, or a local `mlflow server` on SQLite); wall time of the whole round and "
        "of its slowest command; the runs' final statuses; sampling runs that logged their "
        "metric; the steps of the training with a logged loss; output folders that hold a "
        "whole sample set.",
        "",
        "| store | exit 0 | wall s | slowest s | runs | RUNNING | sampling runs with "
        "metrics | training | sample folders |",
        "|---|---:|---:|---:|---|---:|---:|---|---|",
        *[_row(r) for r in rows],
        "",
    ]
    for r in rows:
        failed = Counter(o.error for o in r["outcomes"] if o.code != 0)
        verdict = "passed" if _verdict(r) else "FAILED"
        lines.append(f"- {r['label']}: {verdict}" + ("" if not failed else "; failures:"))
        for why, count in failed.most_common():
            lines.append(f"  - {count} x `{why}`")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--concurrent", type=int, default=8, help="fick sample commands at once")
    p.add_argument("-n", type=int, default=16, help="samples per command")
    p.add_argument("--model", default="qm9", help="model every sampler draws from")
    p.add_argument("--steps", type=int, default=20, help="sampling steps (0: the model's)")
    p.add_argument("--train-config", type=Path, default=TRAIN_CONFIG)
    p.add_argument("--train-steps", type=int, default=20, help="0: no training in the round")
    p.add_argument("--stores", nargs="+", default=["sqlite", "server"],
                   choices=["sqlite", "server"])
    p.add_argument("--timeout", type=float, default=1800, help="seconds per round")
    p.add_argument("--write", type=Path, default=ROOT / "BENCHMARKS.md")
    p.add_argument("--keep", action="store_true", help="keep the work folders (logs, stores)")
    args = p.parse_args(argv)
    if args.concurrent < 1 or args.n < 1:
        p.error("--concurrent and -n must be positive")
    args.train_config = args.train_config.resolve()

    from benchmarks._sections import write_section

    base = Path(tempfile.mkdtemp(prefix="fick-load-check-"))
    rows = []
    try:
        for kind in args.stores:
            work = base / kind
            work.mkdir()
            print(f"[{kind}] {args.concurrent} x fick sample"
                  + (" + fick train" if args.train_steps else "") + " ...", flush=True)
            if kind == "sqlite":
                rows.append(check_store("SQLite file", f"sqlite:///{work / 'mlflow.db'}", work,
                                        args))
            else:
                with mlflow_server(base / "server-store") as url:
                    rows.append(check_store("mlflow server", url, work, args))
            print(_row(rows[-1]), flush=True)
    finally:
        if args.keep:
            print(f"work folders kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    command = "python -m benchmarks.load_check " + " ".join(argv if argv is not None
                                                            else sys.argv[1:])
    body = report(rows, command.strip())
    args.write.parent.mkdir(parents=True, exist_ok=True)
    write_section(args.write, "load-check", body)
    print(body)
    print(f"\nwritten to {args.write}")
    return 0 if all(_verdict(r) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
