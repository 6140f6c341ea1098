"""Benchmarks of the molecule model on this machine (not a test; run by hand, with ``nice``).

    python -m benchmarks.molecules_model throughput --config configs/molecules/qm9.yaml
    python -m benchmarks.molecules_model train --config configs/molecules/qm9.yaml \
        --minutes 10 --samples 200 --steps 50

``throughput``: training molecules/s (forward + backward + Adam step) on QM9-sized molecules and
seconds per molecule for sampling, calling the network built from the validated config directly.
``train``: a short training on QM9 as a user runs it, ``fick train CONFIG --set
train.max_minutes=M`` (``--cpu-minutes``: ``train.max_cpu_minutes``; EMA, checkpoints and MLflow
tracking as in any run, no validation sampling inside the budget), then ``fick evaluate`` of the
trained model at each step count: the numbers to choose a long-run config by. Runs go below
``outputs/benchmarks/molecules-model/``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch
from fick.domains.base import FickError
from fick.pipelines import config as config_mod

from benchmarks._sections import output_dir, run

__all__ = ["main", "parse_metrics", "train_overrides"]


def _qm9_like_batch(batch_size: int, hist: list[int], generator: torch.Generator):
    from fick.domains.molecules.data.records import make_record
    from torch_geometric.data import Batch

    w = torch.tensor(hist, dtype=torch.float64)
    counts = torch.multinomial(w, batch_size, replacement=True, generator=generator).tolist()
    recs = []
    for n in counts:
        pos = torch.randn(n, 3, generator=generator) * 1.5
        types = torch.randint(0, 5, (n,), generator=generator)
        bi = torch.stack([torch.arange(n - 1), torch.arange(1, n)])
        recs.append(make_record(pos, types, None, bi, torch.ones(n - 1, dtype=torch.long),
                                y=torch.zeros(6)))
    return Batch.from_data_list(recs)


def _qm9_info() -> dict:
    """QM9's vocabulary and atom-count histogram (read from qm9pack's CSVs: no bond perception)."""
    import pandas as pd
    from fick.domains.molecules.data.qm9 import QM9_ELEMENTS, QM9_PROPERTIES, qm9_csv_folder

    folder = qm9_csv_folder()
    counts = pd.concat([pd.read_csv(folder / f"qm9_part{i}.csv", usecols=["N_atoms"])
                        for i in (1, 2, 3)])["N_atoms"].to_numpy()
    hist = torch.bincount(torch.as_tensor(counts)).tolist()
    props = {p: 0.0 for p in QM9_PROPERTIES}
    return {"elements": QM9_ELEMENTS, "charges": [-1, 0, 1], "bond_types": [1, 2, 3],
            "num_atoms_hist": hist, "properties": QM9_PROPERTIES, "property_mean": props,
            "property_mad": {p: 1.0 for p in props}}


def throughput(args) -> dict:
    torch.set_num_threads(args.threads)
    cfg, plugin = config_mod.load_config(args.config, args.set)
    info = _qm9_info()
    task = plugin.build_task(cfg.task, cfg.model, info, None)
    opt = torch.optim.Adam(task.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    bs = cfg.train.batch_size
    batches = [_qm9_like_batch(bs, info["num_atoms_hist"], g) for _ in range(3)]
    task.train()
    for b in batches[:1]:  # warm-up
        loss, _ = task.loss(b)
        loss.backward()
    # the machine is shared: report the mean rate and the best iteration (closest to an idle
    # machine); per-iteration times are what vary under contention
    t0, n, times = time.perf_counter(), 0, []
    while time.perf_counter() - t0 < args.seconds:
        b = batches[n % len(batches)]
        t1 = time.perf_counter()
        opt.zero_grad()
        loss, _ = task.loss(b)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t1)
        n += 1
    train_rate = n * bs / (time.perf_counter() - t0)
    best_rate = bs / min(times)
    task.eval()
    per_sample = float("nan")
    if args.sample_n:
        t0 = time.perf_counter()
        task.sample(args.sample_n, steps=args.steps, generator=torch.Generator().manual_seed(0))
        per_sample = (time.perf_counter() - t0) / args.sample_n
    out = {
        "params": sum(p.numel() for p in task.parameters()),
        "train_molecules_per_s": round(train_rate, 1),
        "train_molecules_per_s_best_iteration": round(best_rate, 1),
        "batch_size": bs,
        f"sample_s_per_molecule_{args.steps}_steps": round(per_sample, 4),
        "threads": args.threads,
    }
    print(json.dumps(out))
    return out


# what every benchmark training sets, before the user's own --set: the time budget alone stops
# it (constant LR after the warm-up, as max_steps never arrives), no sampling inside the budget
BUDGET_RUN = [
    "train.max_steps=1000000000",
    "train.lr_schedule=constant",
    "train.val_every_n_steps=1000000000",
    "sample.n=0",
    "tracking.system_metrics=false",
]
FINISHED = re.compile(r"model at (\S+) and runs:/(\w+)/model")


def train_overrides(args, out: Path) -> list[str]:
    """The ``--set`` items of the benchmark's ``fick train``: its own flags, then ``--set``."""
    budget = (f"train.max_cpu_minutes={args.cpu_minutes}" if args.cpu_minutes is not None
              else f"train.max_minutes={args.minutes}")
    sets = [*BUDGET_RUN, budget, f"train.ema_decay={args.ema}", f"seed={args.seed}",
            f"train.output_dir={out}"]
    if args.init:  # continue from a model or checkpoint: no second warm-up
        sets += [f"train.init_from={args.init}", "train.warmup_steps=0"]
    return [*sets, *args.set]


def parse_metrics(text: str) -> dict[str, float]:
    """The ``metric  value`` table that ``fick evaluate`` prints (empty when there is none)."""
    lines = text.splitlines()
    header = next((i for i, line in enumerate(lines) if line.split() == ["metric", "value"]), None)
    out: dict[str, float] = {}
    for line in lines[header + 2:] if header is not None else []:
        key, _, value = line.strip().rpartition(" ")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            break
    return out


def _fick(argv: list[str], threads: int, log: Path) -> str:
    """Run this environment's ``fick`` CLI; its output goes to ``log`` and stdout is returned."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    fick = Path(sys.executable).with_name("fick")
    done = subprocess.run([str(fick), *argv], env=env, capture_output=True, text=True)
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise FickError(f"fick {argv[0]} failed ({last}); its output is in {log}")
    return done.stdout


def _fit_steps_and_seconds(run_id: str) -> tuple[int, float]:
    """Optimiser steps and seconds of the run's fit, as ``fick train`` logged them."""
    from fick.pipelines import tracking

    history = tracking.client(tracking.tracking_uri()).get_metric_history(
        run_id, "train/fit_seconds")
    last = max(history, key=lambda m: m.step)
    return last.step, last.value


def train(args) -> dict:
    stem = f"{Path(args.config).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    out = output_dir("molecules-model", stem)
    sets = train_overrides(args, out)
    cfg, _ = config_mod.load_config(args.config, sets)  # a bad --set fails here, not in training
    printed = _fick(["train", args.config, *[a for s in sets for a in ("--set", s)]],
                    args.threads, out / "train.log")
    found = FINISHED.search(printed)
    if found is None:
        raise FickError(f"fick train did not say where it saved the model; see {out}/train.log")
    model_dir, run_id = found.group(1).rstrip(";"), found.group(2)
    steps, seconds = _fit_steps_and_seconds(run_id)
    seen = steps * cfg.train.batch_size * cfg.train.accumulate_grad_batches
    if args.save:
        shutil.copytree(model_dir, args.save, dirs_exist_ok=True)
    result = {"run_id": run_id, "model": model_dir, "steps": steps, "molecules_seen": seen,
              "train_s": round(seconds), "train_molecules_per_s": round(seen / seconds, 1)}
    for sample_steps in args.steps:
        printed = _fick(["evaluate", model_dir, "-n", str(args.samples), "--steps",
                         str(sample_steps), "--seed", str(args.seed), "--no-track", "--out",
                         str(out / f"samples-{sample_steps}")],
                        args.threads, out / f"evaluate-{sample_steps}.log")
        metrics = parse_metrics(printed)
        keep = {k: round(v, 4) for k, v in metrics.items()
                if any(s in k for s in ("stab", "valid", "uniq", "novel", "connect"))}
        speed = metrics.get("sample/items_per_s")
        row = {"s_per_molecule": round(1 / speed, 4) if speed else None, **keep}
        result[f"{sample_steps}_steps"] = row
        print(json.dumps({f"{sample_steps}_steps": row}), flush=True)
    print(json.dumps(result))
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("throughput", "train"):
        s = sub.add_parser(name)
        s.add_argument("--config", default="configs/molecules/qm9.yaml")
        s.add_argument("--set", action="append", default=[], help="dotted key=value override")
        s.add_argument("--threads", type=int, default=2)
    sub.choices["throughput"].add_argument("--seconds", type=float, default=30)
    sub.choices["throughput"].add_argument("--sample-n", type=int, default=64)
    sub.choices["throughput"].add_argument("--steps", type=int, default=50)
    tr = sub.choices["train"]
    tr.add_argument("--minutes", type=float, default=10, help="wall-clock budget")
    tr.add_argument("--cpu-minutes", type=float, default=None,
                    help="CPU-time budget instead (fair on a shared machine)")
    tr.add_argument("--samples", type=int, default=200)
    tr.add_argument("--steps", type=int, nargs="+", default=[50])
    tr.add_argument("--ema", type=float, default=0.999)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--save", default=None, help="also copy the trained model folder here")
    tr.add_argument("--init", default=None,
                    help="start from this model (e.g. one saved with --save) or checkpoint")
    args = p.parse_args(argv)
    {"throughput": throughput, "train": train}[args.cmd](args)
    return 0


if __name__ == "__main__":
    run(main)
