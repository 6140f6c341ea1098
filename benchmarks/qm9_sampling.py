"""QM9 sampling ablation at a fixed budget of network evaluations: which sampler settings lift
molecule stability of the *same* trained network at <= 50 evaluations per molecule.

    python -m benchmarks.qm9_sampling --model qm9 --n 1000 --variants ddpm-s0.5 ddim-eta1.5
    python -m benchmarks.qm9_sampling --table      # only rewrite the BENCHMARKS.md section

Every variant draws ``--n`` molecules (seed ``--seed``) as ``fick sample`` draws them and scores
them with ``fick evaluate``'s evaluator: EDM's protocol (distance-based bonds on raw
coordinates) and the model's own bonds. NFE counts network evaluations per molecule (a
second-order step costs two). Results accumulate in ``benchmarks/results/qm9_sampling.json``
(keyed by model, variant, n and seed); a measured variant is not drawn again unless ``--force``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks import _sections as bench

__all__ = ["VARIANTS", "main"]

RESULTS = Path("benchmarks") / "results" / "qm9_sampling.json"

# name -> (what it tests, sampler, steps, options, network evaluations per molecule)
VARIANTS: dict[str, tuple[str, str, int, dict, int]] = {
    "ddpm-s1.0": ("ancestral, the uniform grid", "ddpm", 50, {"shift": 1.0}, 50),
    "ddpm-s0.3": ("ancestral, grid shift 0.3", "ddpm", 50, {"shift": 0.3}, 50),
    "ddpm-s0.4": ("ancestral, grid shift 0.4", "ddpm", 50, {"shift": 0.4}, 50),
    "ddpm-s0.5": ("ancestral, grid shift 0.5 (the default before DDIM eta 3)", "ddpm", 50,
                  {"shift": 0.5}, 50),
    "ddpm-s0.7": ("ancestral, grid shift 0.7", "ddpm", 50, {"shift": 0.7}, 50),
    "ddim-eta0": ("deterministic DDIM (the ODE)", "ddim", 50, {"shift": 0.5, "eta": 0.0}, 50),
    "ddim-eta0.5": ("DDIM, half the ancestral noise", "ddim", 50,
                    {"shift": 0.5, "eta": 0.5}, 50),
    "ddim-eta1.5": ("DDIM, 1.5x the ancestral noise", "ddim", 50,
                    {"shift": 0.5, "eta": 1.5}, 50),
    "ddim-eta2": ("DDIM, 2x the ancestral noise", "ddim", 50, {"shift": 0.5, "eta": 2.0}, 50),
    "ddim-eta3": ("DDIM, 3x the ancestral noise (the shipped default)", "ddim", 50,
                  {"shift": 0.5, "eta": 3.0}, 50),
    "ddim-eta4": ("DDIM, 4x the ancestral noise", "ddim", 50, {"shift": 0.5, "eta": 4.0}, 50),
    "ddim-eta6": ("DDIM, 6x the ancestral noise", "ddim", 50, {"shift": 0.5, "eta": 6.0}, 50),
    "ddim-eta3-s1.0": ("DDIM eta 3 on the uniform grid", "ddim", 50,
                       {"shift": 1.0, "eta": 3.0}, 50),
    "ddim-eta3-s0.3": ("DDIM eta 3, grid shift 0.3", "ddim", 50, {"shift": 0.3, "eta": 3.0}, 50),
    "ddim-eta3-20": ("DDIM eta 3 at 20 steps", "ddim", 20, {"shift": 0.5, "eta": 3.0}, 20),
    "ddim-eta3-100": ("DDIM eta 3 at 100 steps (over budget)", "ddim", 100,
                      {"shift": 0.5, "eta": 3.0}, 100),
    "ddim-eta1.5-20": ("DDIM eta 1.5 at 20 steps", "ddim", 20, {"shift": 0.5, "eta": 1.5}, 20),
    "ddim-eta2-20": ("DDIM eta 2 at 20 steps", "ddim", 20, {"shift": 0.5, "eta": 2.0}, 20),
    "ddpm-20": ("ancestral at 20 steps", "ddpm", 20, {"shift": 0.5}, 20),
    "ddim-eta2.5": ("DDIM, 2.5x the ancestral noise", "ddim", 50,
                    {"shift": 0.5, "eta": 2.5}, 50),
    "ddim-eta3.5": ("DDIM, 3.5x the ancestral noise", "ddim", 50,
                    {"shift": 0.5, "eta": 3.5}, 50),
    "flow-heun-25": ("second-order ODE (Heun), 25 steps", "flow-heun", 25, {"shift": 0.5}, 50),
    "flow-midpoint-25": ("second-order ODE (midpoint), 25 steps", "flow-midpoint", 25,
                         {"shift": 0.5}, 50),
    "dpmpp-2m": ("DPM-Solver++(2M), multistep ODE", "dpmpp-2m", 50, {"shift": 0.5}, 50),
    "ddpm-100": ("reference: ancestral at 100 steps (over budget)", "ddpm", 100,
                 {"shift": 0.5}, 100),
}

KEYS = ("atom_stability", "mol_stability", "validity", "valid_unique",
        "mol_stability_given_bonds", "validity_given_bonds")


def _load() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}


def _save(key: str, row: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({**_load(), key: row}, indent=1, sort_keys=True) + "\n")


def _key(model: str, variant: str, n: int, seed: int) -> str:
    return f"{model}|{variant}|n={n}|seed={seed}"


def measure(model_ref: str, variants: list[str], n: int, seed: int, force: bool) -> None:
    from fick.pipelines import modelio, sampling

    done = _load()
    model = reference = None
    for name in variants:
        key = _key(model_ref, name, n, seed)
        if key in done and not force:
            continue
        if model is None:
            model = modelio.load(model_ref)
            model.task.eval()
            reference = sampling.reference_data(model, None)
        _, sampler, steps, options, nfe = VARIANTS[name]
        folder = bench.output_dir("qm9_sampling", name)
        start = time.perf_counter()
        drawn = sampling.draw(model, n, folder, seed=seed, shard_size=n, accelerator="cpu",
                              show_progress=False, steps=steps, sampler=sampler, **options)
        seconds = time.perf_counter() - start
        metrics = sampling.evaluate_samples(model, drawn.samples, reference)
        row = {"model": model_ref, "variant": name, "n": n, "seed": seed, "nfe": nfe,
               "sampler": sampler, "steps": steps, "options": options,
               "molecules_per_s": n / seconds, "date": bench.utc_stamp(),
               **{k: float(metrics[k]) for k in KEYS if k in metrics}}
        _save(key, row)
        print(json.dumps(row), flush=True)


def _pct(row: dict, key: str) -> str:
    return f"{100 * row[key]:.1f}" if key in row else "-"


def render(model_ref: str) -> str:
    rows = [r for r in _load().values() if r["model"] == model_ref]
    rows.sort(key=lambda r: (r["nfe"], -r["mol_stability"]))
    lines = [
        f"### QM9: sampling ablation over the shipped network (`{model_ref}`)",
        "",
        "The same trained network sampled with different samplers, noise levels and grids; "
        "each row draws its molecules as `fick sample` does (seed in the row) and scores them "
        "with `fick evaluate`'s evaluator: EDM's protocol (distance-based bonds, raw "
        "coordinates) and the model's own bonds (MiDi's valences). NFE: network evaluations "
        "per molecule. `shift` < 1 puts more grid points near the data end; `eta` scales the "
        "ancestral noise of DDIM (1 = DDPM's posterior variance, 0 = the deterministic ODE). "
        "DDIM keeps each level's marginal only while eta <= s_i / s_ij (between 1.0 and 2.6 "
        "on the 50-step grid of shift 0.5); beyond it the fresh noise is eta times DDPM's "
        "posterior std and the state is noisier than its level (over-noising, a corrector: "
        "the network pulls it back toward the data at the next step).",
        "",
        "| variant | what it tests | sampler | steps | NFE | n | seed | atom stab. | mol stab. "
        "| validity | valid & unique | mol stab. (own bonds) | validity (own bonds) "
        "| molecules/s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        what = VARIANTS[r["variant"]][0] if r["variant"] in VARIANTS else ""
        opts = ", ".join(f"{k} {v}" for k, v in r["options"].items())
        lines.append(
            f"| {r['variant']} | {what} | {r['sampler']} ({opts}) | {r['steps']} | {r['nfe']} "
            f"| {r['n']} | {r['seed']} | " + " | ".join(_pct(r, k) for k in KEYS)
            + f" | {r['molecules_per_s']:.1f} |")
    lines += ["", "Command: `python -m benchmarks.qm9_sampling --model "
              f"{model_ref} --n N --seed S --variants NAME ...` (one torch thread; rows "
              "accumulate in `benchmarks/results/qm9_sampling.json`). Molecules/s were measured "
              "while other jobs shared the 2-core machine: compare them within a row's date "
              "only."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qm9")
    ap.add_argument("--variants", nargs="+", default=[], choices=sorted(VARIANTS))
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="draw measured variants again")
    ap.add_argument("--table", action="store_true", help="only rewrite the section")
    bench.add_output_arguments(ap)
    args = ap.parse_args(argv)
    if not args.table:
        measure(args.model, args.variants, args.n, args.seed, args.force)
    bench.publish(args, "qm9-sampling", render(args.model))
    return 0


if __name__ == "__main__":
    bench.run(main)
