"""MOSES3D rows of BENCHMARKS.md (section ``moses3d``): drug-like 3D molecules, one evaluator.

    python -m benchmarks.moses3d                              # data row + published rows
    python -m benchmarks.moses3d --model moses3d --n 1000 --steps 20 50 100
    python -m benchmarks.moses3d --quick --no-write           # smoke run, a minute or two

Rows, all through ``metrics.druglike`` (the evaluator of ``fick evaluate FILE.sdf``, which
``fick evaluate MODEL`` of a drug-like model also calls):

- data: the first ``--n`` prepared MOSES3D test molecules (``fick data molecules
  prepare-moses3d --split test``). They are part of MOSES's test set, so they are compared with
  the test set less themselves (``MosesReference.excluding``), never with themselves;
- published MOSES 2D baselines (a SMILES / graph generator has no coordinates: no 3D columns);
- published 3D rows on GEOM-Drugs (other data: a guide, not a like-for-like comparison);
- with ``--model REF``: ``--n`` samples at each of ``--steps``, sampled by ``sampling.draw`` and
  scored as ``fick evaluate`` scores them, with the issue's floors (validity >= 80%, connected
  >= 80%, PoseBusters checks passed by >= 70% of the valid ones) as pass / fail.

``--rows outputs/benchmarks/moses3d/rows.json`` writes the section again from a run's saved
rows, with that run's date, command and sizes. ``--moses N`` compares with a fixed subset of N
reference molecules instead of MOSES's whole test set (its statistics are computed once and
cached: about 20 CPU-minutes per split for the whole set); ``--references test`` leaves out the
scaffold-test set. ``--quick``: 20 molecules, 200-molecule references, one 4-step sampling of 8
molecules; it writes only to a ``--benchmarks`` file named explicitly.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from fick.domains.base import FickError

from benchmarks._sections import (
    BENCHMARKS,
    OUTPUTS,
    command_line,
    output_dir,
    publish,
    run,
    utc_stamp,
)

__all__ = ["FLOORS", "data_row", "floor_checks", "main", "model_rows", "table"]

SECTION = "moses3d"
FLOORS = {"validity": 0.80, "connected": 0.80, "pb_valid": 0.70}
COLUMNS = [  # (metric, header, percent?)
    ("validity", "valid %", True), ("connected", "connected %", True),
    ("mol_stability", "mol stable % (MiDi)", True), ("atom_stability", "atom stable %", True),
    ("uniqueness", "unique %", True), ("novelty_moses", "novel %", True),
    ("pb_valid", "PoseBusters %", True), ("strain_median", "strain median kcal/mol", False),
    ("fcd/test", "FCD/Test", False), ("snn/test", "SNN/Test", False),
    ("frag/test", "Frag/Test", False), ("scaf/test", "Scaf/Test", False),
    ("fcd/testsf", "FCD/TestSF", False), ("intdiv", "IntDiv", False),
    ("filters", "Filters", False), ("qed", "QED", False),
]


def _cell(value: Any, percent: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * value:.1f}" if percent else f"{value:.3f}"


def table(rows: dict[str, dict[str, Any]], columns=COLUMNS) -> str:
    """A Markdown table: one row per name, the columns above (``-`` where a row has none)."""
    lines = ["| row | " + " | ".join(h for _, h, _ in columns) + " |",
             "|" + "---|" * (len(columns) + 1)]
    for name, metrics in rows.items():
        lines.append(f"| {name} | " + " | ".join(_cell(metrics.get(k), p)
                                                for k, _, p in columns) + " |")
    return "\n".join(lines)


def floor_checks(metrics: dict[str, float]) -> str:
    """``validity 83.1 >= 80 pass, ...``: each floor of the issue against a row's metrics."""
    parts = []
    for key, floor in FLOORS.items():
        value = metrics.get(key, math.nan)
        ok = not math.isnan(value) and value >= floor
        parts.append(f"{key} {100 * value:.1f} >= {100 * floor:.0f} {'pass' if ok else 'FAIL'}")
    return ", ".join(parts)


def _choice(args) -> str:
    return "all" if args.moses == "all" else str(int(args.moses))


def data_row(args) -> tuple[dict[str, float], list[str], float]:
    """The metrics of the first ``--n`` prepared MOSES3D test molecules, the evaluator's notes,
    and the seconds it took."""
    from fick.domains.molecules.data.moses3d import MOSES3D_ELEMENTS
    from fick.domains.molecules.data.moses3d_dataset import load_moses3d
    from fick.domains.molecules.metrics.druglike import evaluate_druglike_records

    ds, _ = load_moses3d("test", seed=args.seed)
    if len(ds) < args.n:
        raise FickError(f"only {len(ds)} MOSES3D test molecules are prepared, --n is {args.n}: "
                        f"run fick data molecules prepare-moses3d --split test --n {args.n}")
    started = time.perf_counter()
    result = evaluate_druglike_records([ds[i] for i in range(args.n)], MOSES3D_ELEMENTS,
                                       moses=_choice(args), references=args.references,
                                       exclude_evaluated=True)
    return result.metrics, result.notes, time.perf_counter() - started


def model_rows(args) -> dict[str, dict[str, float]]:
    """``--n`` samples of ``--model`` at each of ``--steps``, scored as ``fick evaluate`` does
    (the training SMILES of the model's data, when it can be rebuilt, for ``novelty``)."""
    from fick.domains.molecules.metrics.druglike import evaluate_druglike_records, is_druglike
    from fick.pipelines import modelio, sampling

    model = modelio.load(args.model)
    if model.domain != "molecules" or not is_druglike(model.info):
        raise FickError(f"--model {args.model} is not a drug-like (MOSES3D) molecules model")
    try:
        reference = sampling.reference_data(model, None)
    except FickError as err:
        print(f"note: the training data could not be rebuilt ({err}); novelty against MOSES's "
              "training set only")
        reference = None
    train = reference.extras.get("train_smiles") if reference is not None else None
    rows = {}
    for steps in args.steps:
        out = output_dir("moses3d", f"samples-{steps}")
        drawn = sampling.draw(model, args.n, out, seed=args.seed, steps=steps)
        metrics = evaluate_druglike_records(
            drawn.samples, model.info["elements"], train_smiles=train,
            moses=_choice(args), references=args.references).metrics
        metrics["molecules_per_s"] = drawn.items_per_s
        rows[f"{args.model}, {steps} steps, {args.n} samples"] = metrics
        print(f"{steps} steps: {floor_checks(metrics)}", flush=True)
    return rows


def _published() -> str:
    from fick.domains.molecules.metrics.published import (
        MOSES_CITATION,
        PUBLISHED_GEOM_DRUGS,
        PUBLISHED_MOSES,
    )

    moses_cols = [c for c in COLUMNS if c[0] in PUBLISHED_MOSES["CharRNN"]]
    geom_cols = [("atom_stability", "atom stable %", True), ("validity", "valid %", True)]
    geom = table({k: v for k, v in PUBLISHED_GEOM_DRUGS.items()}, geom_cols).splitlines()
    geom[0] = geom[0][:-1] + "| note |"
    geom[1] += "---|"
    for i, row in enumerate(PUBLISHED_GEOM_DRUGS.values()):
        geom[i + 2] += f" {row['note']} |"
    return "\n".join([
        "Published MOSES baselines (2D generators: SMILES / graphs, no coordinates; "
        f"{MOSES_CITATION}):", "",
        table({f"{k} (published)": v for k, v in PUBLISHED_MOSES.items()}, moses_cols), "",
        "Published 3D generators on GEOM-Drugs (different data from MOSES3D: a guide only; "
        "MiDi's, SemlaFlow's and FlowMol3's GEOM-Drugs figures are not recorded in this "
        "project's anchors and are not quoted):", "",
        "\n".join(geom).replace("| EDM", "| (published) EDM").replace("| Flow",
                                                                     "| (published) Flow"),
    ])


def _body(args, data: tuple | None, models: dict[str, dict[str, float]]) -> str:
    quick = " (quick smoke run: tiny sizes, not a result)" if args.quick else ""
    reference = ("MOSES's whole test set" if args.moses == "all"
                 else f"a fixed subset of {args.moses} MOSES test molecules")
    parts = [f"## Drug-like 3D molecules: MOSES3D{quick}", "",
             f"Measured {args.measured}; `{args.command}`. Metrics of "
             "`fick evaluate` (validity: RDKit sanitisation with formal charges; stability: "
             "MiDi's charge-aware valences on the molecules' own bonds; PoseBusters' molecule "
             "checks, fast set, over the valid molecules; strain: MMFF94 energy before minus "
             f"after a local relaxation), MOSES metrics against {reference}. FCD, SNN and "
             "Scaf depend on the number of molecules and the reference's size (MOSES's "
             "published rows: 30,000 samples against the whole test set): compare the model "
             "rows with the data row of the same run, not with the published ones.", ""]
    rows = {}
    if data is not None:
        metrics, notes, seconds = data
        rows[f"MOSES3D test data ({args.n} molecules, RDKit ETKDGv3 + MMFF94)"] = metrics
        parts += ["Data row: the prepared molecules as they are (MMFF94 minima, so their strain "
                  "is about 0); compared with the test set less these molecules. "
                  + " ".join(f"{n}." for n in notes), ""]
    rows.update(models)
    parts += [table(rows), ""]
    for name, metrics in models.items():
        parts.append(f"- {name}: {floor_checks(metrics)}; "
                     f"{metrics.get('molecules_per_s', math.nan):.2f} molecules/s sampling")
    if models:
        parts.append("")
    parts.append(_published())
    return "\n".join(parts)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="a drug-like model to sample (optional)")
    parser.add_argument("--n", type=int, default=1000,
                        help="test molecules of the data row, samples per step count")
    parser.add_argument("--steps", type=int, nargs="+", default=[20, 50, 100])
    parser.add_argument("--seed", type=int, default=0, help="MOSES3D subset and sampling seed")
    parser.add_argument("--moses", default="all", help="reference size: all or N")
    parser.add_argument("--references", default="test,testsf",
                        help="test, testsf or test,testsf")
    parser.add_argument("--no-data", action="store_true", help="leave out the data row")
    parser.add_argument("--quick", action="store_true", help="a smoke run of tiny sizes")
    parser.add_argument("--benchmarks", type=Path, default=None,
                        help="BENCHMARKS.md to update (default ./BENCHMARKS.md; with --quick "
                             "only one named here)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--rows", type=Path, default=None,
                        help="write the section from a run's rows.json")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.quick:
        args.n, args.moses, args.steps = min(args.n, 20), "200", [4]
    if args.moses != "all" and not str(args.moses).isdigit():
        raise FickError(f"--moses {args.moses}: use all or a reference size N")
    args.references = tuple(r.strip() for r in args.references.split(",") if r.strip())
    if args.n < 2:
        raise FickError(f"--n {args.n}: at least 2 molecules")
    if args.benchmarks is None:
        args.no_write = args.no_write or args.quick  # a smoke run never overwrites the results
        args.benchmarks = BENCHMARKS
    if args.rows is not None:
        return _render(args)
    data = None if args.no_data else data_row(args)
    models = {}
    if args.model:
        if args.quick:
            args.n = 8
        models = model_rows(args)
    args.measured, args.command = utc_stamp(), command_line("moses3d", argv)
    rows = {"data": None if data is None else {"metrics": data[0], "notes": data[1],
                                                "seconds": data[2]}, "models": models,
            "measured": args.measured, "command": args.command, "n": args.n,
            "moses": args.moses, "quick": args.quick}
    folder = OUTPUTS / "moses3d"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ("rows-quick.json" if args.quick else "rows.json")).write_text(
        json.dumps(rows, indent=1))
    publish(args, SECTION, _body(args, data, models))
    return 0


def _render(args) -> int:
    """``--rows FILE``: the section again from a run's saved rows (no recomputation)."""
    if not args.rows.is_file():
        raise FickError(f"--rows {args.rows}: no such file; a run writes "
                        f"{OUTPUTS / 'moses3d' / 'rows.json'}")
    saved = json.loads(args.rows.read_text())
    for key in ("measured", "command", "n", "moses", "quick"):
        setattr(args, key, saved[key])
    data = saved["data"]
    data = None if data is None else (data["metrics"], data["notes"], data["seconds"])
    publish(args, SECTION, _body(args, data, saved["models"]))
    return 0


if __name__ == "__main__":
    run(main)
