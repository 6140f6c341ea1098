"""Property MAE of a property-conditional molecule generator (EDM's protocol), written into
BENCHMARKS.md (the molecules-property section).

    python -m benchmarks.molecules_property --model COND_MODEL --regressor REGRESSOR

EDM's protocol (Hoogeboom et al. 2022, section 5.3): the property predictor is trained on the
first half of QM9's training split, the conditional generator on the second half. ``--n`` pairs
(atom count, property values) are drawn from the generator's training half, a molecule is
generated for each pair, and the predictor's estimate of the property of each sample is compared
with the target it was drawn for (mean absolute error, in the data's units). Beside it, EDM's
reference rows computed on the same draws: the predictor on the real molecules ("QM9, lower
bound"), the predictor against shuffled targets ("random, upper bound") and the best guess from
the atom count alone ("#atoms": the mean property of molecules with that many atoms).
"""

from __future__ import annotations

import argparse
import json

import torch
from fick.domains.base import FickError
from fick.pipelines import modelio, sampling

from benchmarks import _sections as bench

__all__ = ["atom_count_guess", "draw_targets", "main", "reference_rows"]


def draw_targets(dataset, n: int, names: list[str], seed: int):
    """``n`` molecules of ``dataset`` (with replacement): their indices, atom counts and the
    values of ``names`` (n, P)."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(dataset), (n,), generator=g)
    cols = [dataset.properties.index(p) for p in names]
    values = dataset.property_matrix()[idx][:, cols].double()
    return idx, dataset.num_atoms()[idx].tolist(), values


def atom_count_guess(dataset, names: list[str], counts: list[int]) -> torch.Tensor:
    """The mean property of the dataset's molecules with each count (overall mean where the
    dataset has none): EDM's "#atoms" baseline."""
    cols = [dataset.properties.index(p) for p in names]
    y = dataset.property_matrix()[:, cols].double()
    num = dataset.num_atoms()
    overall = y.mean(0)
    guess = {}
    for c in sorted(set(counts)):
        rows = num == c
        guess[c] = y[rows].mean(0) if bool(rows.any()) else overall
    return torch.stack([guess[c] for c in counts])


def reference_rows(regressor, dataset, idx, counts, targets, names, seed) -> dict[str, dict]:
    """EDM's reference rows on the drawn molecules: lower bound, upper bound, #atoms."""
    real = dataset.subset(idx).records()
    cols = [regressor.cfg.properties.index(p) for p in names]
    pred = regressor.predict_records(real)[:, cols].double()
    perm = torch.randperm(len(idx), generator=torch.Generator().manual_seed(seed + 1))
    guess = atom_count_guess(dataset, names, counts)

    def mae(a, b):
        return {p: float((a[:, j] - b[:, j]).abs().mean()) for j, p in enumerate(names)}

    return {
        "random targets (upper bound)": mae(pred, targets[perm]),
        "#atoms": mae(guess, targets),
        "QM9 molecules (lower bound)": mae(pred, targets),
    }


def render(r: dict) -> str:
    names = r["names"]
    head = "| row | " + " | ".join(f"MAE {p}" for p in names) + " | mol stab. | validity |"
    lines = [head, "|---|" + "---:|" * (len(names) + 2)]
    for row, maes in r["reference"].items():
        lines.append(f"| {row} | " + " | ".join(f"{maes[p]:.3f}" for p in names) + " | - | - |")
    m = r["samples"]
    lines.append(
        f"| **{r['model']}**, {r['n']:,} samples, {r['sampler']} {r['steps']} steps"
        f"{', guidance ' + str(r['guidance']) if r['guidance'] else ''} | "
        + " | ".join(f"{m['property_mae_' + p]:.3f}" for p in names)
        + f" | {100 * m['mol_stability']:.1f} | {100 * m['validity']:.1f} |"
    )
    return "\n".join([
        "### Molecules: property-conditional generation (EDM protocol)",
        "",
        f"Generator `{r['model']}` (trained on the second half of QM9's training split), "
        f"property predictor `{r['regressor']}` (trained on the first half; its MAE on held-out "
        "molecules is the lower-bound row). Targets and atom counts: "
        f"{r['n']:,} draws from the generator's training half. Units: the data's (alpha in "
        "Bohr^3, gap/HOMO/LUMO in meV, mu in D, Cv in cal/mol K). Stability and validity of the "
        "conditional samples as in the QM9 table.",
        "",
        *lines,
        "",
        f"Sampling: {r['seconds']:.0f} s for {r['n']:,} molecules ({r['threads']} threads).",
        "",
        f"Command: `{r['command']}` ({r['date']})",
    ])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="the property-conditional generator")
    ap.add_argument("--regressor", required=True, help="the property predictor (half A)")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=None, help="default: the model's")
    ap.add_argument("--sampler", default=None, help="default: the model's")
    ap.add_argument("--guidance", type=float, default=None, help="classifier-free guidance")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    bench.add_output_arguments(ap)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    model, reg = modelio.load(args.model), modelio.load(args.regressor)
    if getattr(model.task, "kind", None) == "regressor" or not model.task.cfg.condition:
        raise FickError(f"{args.model} is not a property-conditional generator: train one with "
                        "model.condition=[...] (configs/molecules/qm9-cond-alpha.yaml)")
    if getattr(reg.task, "kind", None) != "regressor":
        raise FickError(f"{args.regressor} is not a property predictor: train one with "
                        "configs/molecules/qm9-regressor.yaml")
    names = list(model.task.cfg.condition)
    missing = [p for p in names if p not in reg.task.cfg.properties]
    if missing:
        raise FickError(f"the predictor {args.regressor} does not predict {missing}")
    model.task.regressor = reg.task
    data = sampling.reference_data(model, None)
    if data is None:
        raise FickError(f"{args.model} does not record its training data: cannot draw targets")
    idx, counts, targets = draw_targets(data.train, args.n, names, args.seed)
    # one shard: the i-th molecule gets the i-th target and atom count
    drawn = sampling.draw(
        model, args.n, bench.output_dir("molecules-property"), seed=args.seed, shard_size=args.n,
        accelerator="cpu", show_progress=False, steps=args.steps, sampler=args.sampler,
        guidance=args.guidance, atoms=counts,
        condition={p: targets[:, j].tolist() for j, p in enumerate(names)},
    )
    seconds = drawn.seconds
    metrics = sampling.evaluate_samples(model, drawn.samples, None)
    print(json.dumps({k: round(float(v), 4) for k, v in metrics.items()}), flush=True)
    r = {
        "model": args.model, "regressor": args.regressor, "n": args.n, "names": names,
        "steps": args.steps or model.task.cfg.steps,
        "sampler": args.sampler or model.task.cfg.sampler, "guidance": args.guidance,
        "samples": metrics, "seconds": seconds, "threads": args.threads,
        "reference": reference_rows(reg.task, data.train, idx, counts, targets, names,
                                    args.seed),
        "command": bench.command_line("molecules_property", argv),
        "date": bench.utc_stamp(),
    }
    bench.publish(args, "molecules-property", render(r))
    return 0


if __name__ == "__main__":
    bench.run(main)
