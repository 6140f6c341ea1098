"""QM9 results of a trained molecule model, written into BENCHMARKS.md (the molecules section).

    python -m benchmarks.molecules [--model qm9] [--n 1000] [--steps 20 50 100]

What it measures, all in one run on this machine:
- EDM's metrics (atom / molecule stability, validity, uniqueness, novelty; also from the
  model's own bonds) of ``--n`` samples at each step count, beside EDM's published rows and the
  real QM9 test split scored by the same evaluator (the data row); the samples are drawn as
  ``fick sample`` draws them and kept as SDF files in ``outputs/benchmarks/molecules/``;
- training throughput (molecules/s: forward, backward and AdamW step on real QM9 batches of the
  model's training batch size) and sampling throughput (molecules/s);
- how sampling time grows with molecule size (10 to 100 atoms) and with batch size;
- the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import torch
from fick.pipelines import modelio, sampling

from benchmarks import _sections as bench

__all__ = ["main"]

ROW_KEYS = ("atom_stability", "mol_stability", "validity", "valid_unique", "novelty")


def _pct(v) -> str:
    return "-" if v is None or v != v else f"{100 * float(v):.1f}"


def _threads(n: int) -> str:
    return f"{n} torch thread" + ("" if int(n) == 1 else "s")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def _timed_sample(model, n: int, steps: int, seed: int, folder: str,
                  **options) -> tuple[list, float]:
    """``n`` molecules drawn on the CPU and exported as ``fick sample`` does (one shard, so one
    generator seeded ``seed``), and the seconds the drawing took (export left out)."""
    drawn = sampling.draw(model, n, bench.output_dir("molecules", folder), seed=seed, shard_size=n,
                          accelerator="cpu", show_progress=False, steps=steps, **options)
    return drawn.samples, drawn.seconds


def quality(model, reference, n: int, steps_list: list[int], seed: int,
            samplers: list[str]) -> dict:
    """Metrics of ``n`` samples for every (sampler, steps) pair, keyed by that pair."""
    rows = {}
    for sampler in samplers:
        for steps in steps_list:
            samples, seconds = _timed_sample(model, n, steps, seed, f"{sampler}-{steps}",
                                             sampler=sampler)
            metrics = sampling.evaluate_samples(model, samples, reference)
            metrics["molecules_per_s"] = n / seconds
            rows[(sampler, steps)] = metrics
            print(json.dumps({"sampler": sampler, "steps": steps,
                              **{k: round(float(v), 4) for k, v in metrics.items()}}),
                  flush=True)
    return rows


def data_row(limit: int | None) -> dict:
    from fick.domains.molecules.data import load_qm9
    from fick.domains.molecules.metrics import evaluate_molecules

    qm9 = load_qm9()
    test = qm9.test if limit is None else qm9.test.subset(range(limit))
    records = test.records()
    row = evaluate_molecules(records, train_smiles=qm9.train_smiles(), druglike=False,
                             geometry=False)
    row["n"] = len(records)
    print(json.dumps({"data_row": row}, default=float), flush=True)
    return row


def train_throughput(model, reference, batch_size: int, seconds: float) -> float:
    """Molecules/s of forward + backward + AdamW step on real training batches."""
    from torch.utils.data import DataLoader

    task = model.task
    loader = DataLoader(reference.train, batch_size=batch_size, shuffle=True,
                        collate_fn=reference.collate_fn,
                        generator=torch.Generator().manual_seed(0))
    opt = torch.optim.AdamW(task.parameters(), lr=1e-6)  # tiny: the weights barely move
    state = {k: v.clone() for k, v in task.state_dict().items()}
    task.train()
    times = []
    start = time.perf_counter()
    for i, batch in enumerate(loader):
        t = time.perf_counter()
        opt.zero_grad()
        loss = task.loss(batch)
        loss = loss[0] if isinstance(loss, tuple) else loss
        loss.backward()
        opt.step()
        if i > 0:  # the first iteration allocates
            times.append(time.perf_counter() - t)
        if time.perf_counter() - start > seconds and len(times) >= 5:
            break
    task.load_state_dict(state)
    task.eval()
    return batch_size / statistics.median(times)


def scaling(model, steps: int, seed: int) -> tuple[dict, dict]:
    by_atoms, by_batch = {}, {}
    for atoms in (10, 25, 50, 100):
        # force: sizes beyond the training range time the network, not the chemistry
        _, s = _timed_sample(model, 8, steps, seed, f"atoms-{atoms}", atoms=atoms, batch_size=8,
                             force=True)
        by_atoms[atoms] = s / 8
        print(json.dumps({"atoms": atoms, "s_per_molecule": round(s / 8, 4)}), flush=True)
    for bs in (1, 8, 32, 128):
        _, s = _timed_sample(model, bs, steps, seed, f"batch-{bs}", atoms=19, batch_size=bs)
        by_batch[bs] = s / bs
        print(json.dumps({"batch": bs, "s_per_molecule": round(s / bs, 4)}), flush=True)
    return by_atoms, by_batch


def training_curve(run_id: str) -> list[dict]:
    """Validation metrics of a training run read back from MLflow (MLFLOW_TRACKING_URI or
    ./mlflow.db), with the wall-clock hours since the run started (pauses between sessions
    left out when the gap between two validations exceeds an hour)."""
    from fick.pipelines import tracking

    client = tracking.client(tracking.tracking_uri())
    run = client.get_run(run_id)
    keys = ("val/atom_stability", "val/mol_stability", "val/validity",
            "val/mol_stability_given_bonds", "val/validity_given_bonds")
    rows: dict[int, dict] = {}
    for key in keys:
        for m in client.get_metric_history(run_id, key):
            rows.setdefault(m.step, {"step": m.step, "time": m.timestamp})[key] = m.value
    hours, last = 0.0, run.info.start_time
    out = []
    for step in sorted(rows):
        gap = (rows[step]["time"] - last) / 3.6e6
        hours += gap if gap < 1.0 else 0.0
        last = rows[step]["time"]
        out.append({**rows[step], "hours": hours})
    return out


def render_curve(curve: list[dict], run_id: str) -> str:
    lines = ["| step | wall-clock hours (1 thread, shared machine) | atom stab. | mol stab. "
             "| validity | mol stab. (own bonds) | validity (own bonds) |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in curve:
        lines.append(f"| {r['step']} | {r['hours']:.2f} | {_pct(r.get('val/atom_stability'))} | "
                     f"{_pct(r.get('val/mol_stability'))} | {_pct(r.get('val/validity'))} | "
                     f"{_pct(r.get('val/mol_stability_given_bonds'))} | "
                     f"{_pct(r.get('val/validity_given_bonds'))} |")
    return "\n".join([
        f"Training curve of MLflow run `{run_id}`: the validation samples `fick train` draws "
        "with the EMA weights (200 molecules, 50 steps) every 2000 steps.",
        "",
        *lines,
    ])


def render(r: dict) -> str:
    from fick.domains.molecules.metrics.published import PUBLISHED_QM9

    head = ("| row | sampler | steps | atom stab. | mol stab. | validity | valid & unique "
            "| novelty | mol stab. (own bonds) | validity (own bonds) |")
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in ("QM9 data (EDM paper)", "EDM (Hoogeboom 2022)", "GeoLDM (2023)",
                 "SemlaFlow (2025)"):
        p = PUBLISHED_QM9[name]
        steps = {"EDM (Hoogeboom 2022)": "1000", "GeoLDM (2023)": "1000",
                 "SemlaFlow (2025)": "20"}.get(name, "-")
        lines.append(f"| {name} (published) | - | {steps} | " + " | ".join(
            _pct(p.get(k)) for k in ROW_KEYS) + " | - | - |")
    d = r["data_row"]
    lines.append(f"| QM9 test split, {d['n']:,} molecules (fick's evaluator) | - | - | "
                 + " | ".join(_pct(d.get(k)) for k in ROW_KEYS) + " | - | - |")
    for (sampler, steps), m in r["quality"].items():
        lines.append(f"| **{r['model']}**, {r['n']:,} samples | {sampler} | {steps} | "
                     + " | ".join(_pct(m.get(k)) for k in ROW_KEYS)
                     + f" | {_pct(m.get('mol_stability_given_bonds'))}"
                     + f" | {_pct(m.get('validity_given_bonds'))} |")
    speed = [f"| {sampler} | {s} | {m['molecules_per_s']:.2f} |"
             for (sampler, s), m in r["quality"].items()]
    atoms = " | ".join(f"{a}: {v:.3f}" for a, v in r["by_atoms"].items())
    batch = " | ".join(f"{b}: {v:.3f}" for b, v in r["by_batch"].items())
    return "\n".join([
        "### Molecules: QM9 (EDM protocol)",
        "",
        f"Model `{r['model']}` ({r['params']:,} parameters; {r['about']}). Samples with atom "
        "counts drawn from the training distribution. Stability and validity from "
        "EDM's distance-based bonds (EDM's tables and valencies) as in the EDM paper; the "
        "\"own bonds\" columns score the bonds the model generated. Validity: RDKit sanitisation"
        " of the largest fragment; valid & unique: unique valid SMILES over all samples; novelty:"
        " unique valid SMILES not in the training split. Published rows are copied from the "
        "papers (SemlaFlow uses its own metric definitions). Samplers: `ddpm` is ancestral "
        "(stochastic) sampling of the flow's Gaussian posterior, `ddim` DDIM with the model's "
        "own sampler options where it is the model's default (eta: the ancestral noise's "
        "multiple), `flow-euler` the deterministic ODE. Each row draws its molecules in one "
        "shard (one generator seeded with the seed); `fick sample` draws shards of 64 seeded "
        "seed, seed + 1, ..., so its figures differ from these by sampling noise.",
        "",
        *lines,
        "",
        f"Sampling throughput ({_threads(r['threads'])}, the shared 2-core machine), "
        "molecules/s by sampler and step count:",
        "",
        "| sampler | steps | molecules/s |",
        "|---|---:|---:|",
        *speed,
        "",
        f"Training throughput: {r['train_mol_s']:.0f} molecules/s (median iteration, batch "
        f"{r['batch_size']}, forward + backward + AdamW on QM9 batches, {_threads(r['threads'])})."
        f" Peak resident memory of the benchmark process: {r['peak_mb']:.0f} MB.",
        "",
        f"Seconds per molecule at {r['scaling_steps']} steps, by atoms per molecule (batch 8): "
        f"{atoms}. By batch size (19 atoms): {batch}.",
        "",
        *([r["curve"], ""] if r.get("curve") else []),
        f"Command: `{r['command']}` ({r['date']})",
    ])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qm9", help="model reference (default: shipped qm9)")
    ap.add_argument("--n", type=int, default=1000, help="samples per step count")
    ap.add_argument("--steps", type=int, nargs="+", default=[20, 50, 100])
    ap.add_argument("--samplers", nargs="+", default=None,
                    help="samplers to compare (default: the model's own)")
    ap.add_argument("--data-limit", type=int, default=None,
                    help="score only the first N test molecules for the data row")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-seconds", type=float, default=30)
    ap.add_argument("--scaling-steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=64, help="training batch for throughput")
    ap.add_argument("--about", default="trained with `fick train configs/molecules/qm9.yaml`",
                    help="how the model was trained (goes into the table's caption)")
    ap.add_argument("--training-run", default=None,
                    help="MLflow run id of the model's training: adds its validation curve")
    bench.add_output_arguments(ap)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    model = modelio.load(args.model)
    model.task.eval()
    reference = sampling.reference_data(model, None)
    r = {
        "model": args.model,
        "n": args.n,
        "threads": args.threads,
        "params": sum(p.numel() for p in model.task.parameters()),
        "about": args.about,
        "data_row": data_row(args.data_limit),
        "quality": quality(model, reference, args.n, args.steps, args.seed,
                           args.samplers or [model.task.cfg.sampler]),
        "batch_size": args.batch_size,
        "scaling_steps": args.scaling_steps,
        "command": bench.command_line("molecules", argv),
        "date": bench.utc_stamp(),
    }
    r["train_mol_s"] = train_throughput(model, reference, r["batch_size"], args.train_seconds)
    r["by_atoms"], r["by_batch"] = scaling(model, args.scaling_steps, args.seed)
    r["peak_mb"] = _peak_rss_mb()
    if args.training_run:
        r["curve"] = render_curve(training_curve(args.training_run), args.training_run)
    bench.publish(args, "molecules", render(r))
    return 0


if __name__ == "__main__":
    bench.run(main)
