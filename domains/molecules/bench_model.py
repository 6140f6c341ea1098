"""Benchmarks of the molecule model on this machine (not a test; run by hand, with ``nice``).

    python -m fick.domains.molecules.bench_model throughput --config configs/molecules/qm9.yaml
    python -m fick.domains.molecules.bench_model train --config configs/molecules/qm9.yaml \
        --minutes 10 --samples 200 --steps 50

``throughput``: training molecules/s (forward + backward + Adam step) on QM9-sized molecules and
seconds per molecule for sampling. ``train``: a short training run on QM9 (plain loop, EMA),
then samples evaluated with the domain's metrics; the numbers to choose a long-run config by.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch
import yaml

__all__ = ["main"]


def _load_config(path: str, overrides: list[str]) -> dict:
    cfg = yaml.safe_load(Path(path).read_text())
    for item in overrides:
        key, value = item.split("=", 1)
        node = cfg
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = yaml.safe_load(value)
    return cfg


def _qm9_like_batch(batch_size: int, hist: list[int], generator: torch.Generator):
    from torch_geometric.data import Batch

    from .data.records import make_record

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


def _build(cfg: dict, info: dict):
    from . import plugin

    types = plugin.config_types(cfg.get("task", "diffusion"))
    model_cfg = types["model"](**cfg.get("model", {}))
    return plugin.build_task(cfg.get("task", "diffusion"), model_cfg, info, None)


def _qm9_info() -> dict:
    """QM9's vocabulary and atom-count histogram (read from qm9pack's CSVs: no bond perception)."""
    import pandas as pd

    from .data.qm9 import QM9_ELEMENTS, QM9_PROPERTIES, qm9_csv_folder

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
    cfg = _load_config(args.config, args.set)
    info = _qm9_info()
    task = _build(cfg, info)
    opt = torch.optim.Adam(task.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    bs = int(cfg.get("train", {}).get("batch_size", 64))
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


class _EMA:
    def __init__(self, model, decay):
        self.decay = decay
        self.shadow = copy.deepcopy(model).eval()

        self.updates = 0

    @torch.no_grad()
    def update(self, model):
        # warm-up (as timm / diffusers do): short runs must not average in the initial weights
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for s, p in zip(self.shadow.parameters(), model.parameters()):
            s.lerp_(p, 1 - decay)


def train(args) -> dict:
    from torch.utils.data import DataLoader

    from . import plugin

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = _load_config(args.config, args.set)
    task_name = cfg.get("task", "diffusion")
    types = plugin.config_types(task_name)
    data = plugin.build_data(task_name, types["data"](**cfg.get("data", {})), seed=args.seed)
    task = plugin.build_task(task_name, types["model"](**cfg.get("model", {})), data.info, None)
    if args.init:  # continue from weights saved by an earlier run (--save)
        task.load_state_dict(torch.load(args.init, weights_only=True))
    tcfg = cfg.get("train", {})
    bs = int(tcfg.get("batch_size", 64))
    loader = DataLoader(data.train, batch_size=bs, shuffle=True, collate_fn=data.collate_fn,
                        drop_last=True)
    opt = torch.optim.AdamW(task.parameters(), lr=float(tcfg.get("lr", 1e-3)),
                            weight_decay=float(tcfg.get("weight_decay", 0.0)))
    ema = _EMA(task, float(args.ema))
    t0 = time.perf_counter()
    step, seen, logs_acc = 0, 0, {}
    done = False
    while not done:
        for batch in loader:
            task.train()
            warm = 1.0 if args.init else min(1.0, (step + 1) / 100)
            for group in opt.param_groups:
                group["lr"] = float(tcfg.get("lr", 1e-3)) * warm
            loss, logs = task.loss(batch)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(task.parameters(), float(tcfg.get("grad_clip", 1.0)))
            opt.step()
            ema.update(task)
            step += 1
            seen += batch.num_graphs
            for k, v in logs.items():
                logs_acc[k] = 0.98 * logs_acc.get(k, v) + 0.02 * v
            if step % 25 == 0:
                el = time.perf_counter() - t0
                print(f"step {step} {el:.0f}s {seen / el:.1f} mol/s loss {float(loss):.3f} "
                      + " ".join(f"{k}={v:.3f}" for k, v in logs_acc.items()), flush=True)
            if time.perf_counter() - t0 > args.minutes * 60:
                done = True
                break
    train_s = time.perf_counter() - t0
    result = {"steps": step, "molecules_seen": seen, "train_s": round(train_s),
              "train_molecules_per_s": round(seen / train_s, 1)}
    if args.save:
        torch.save(ema.shadow.state_dict(), args.save)
    model = ema.shadow
    for steps in args.steps:
        t1 = time.perf_counter()
        samples = model.sample(args.samples, steps=steps,
                               generator=torch.Generator().manual_seed(args.seed))
        sample_s = (time.perf_counter() - t1) / args.samples
        metrics = model.evaluate(samples, data)
        keep = {k: round(float(v), 4) for k, v in metrics.items()
                if isinstance(v, (int, float)) and any(
                    s in k for s in ("stab", "valid", "uniq", "novel", "connect"))}
        result[f"{steps}_steps"] = {"s_per_molecule": round(sample_s, 4), **keep}
        print(json.dumps({f"{steps}_steps": result[f"{steps}_steps"]}), flush=True)
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
    tr.add_argument("--minutes", type=float, default=10)
    tr.add_argument("--samples", type=int, default=200)
    tr.add_argument("--steps", type=int, nargs="+", default=[50])
    tr.add_argument("--ema", type=float, default=0.999)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--save", default=None)
    tr.add_argument("--init", default=None, help="start from weights saved with --save")
    args = p.parse_args(argv)
    {"throughput": throughput, "train": train}[args.cmd](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
