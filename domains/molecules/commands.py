"""``fick data molecules ...``: prepare QM9 / MOSES3D, import users' molecules, stats, export.

The molecules plugin calls ``add_data_commands(parser)`` with the parser of
``fick data molecules``; every subcommand sets ``func(args) -> int`` (exit code).
"""

from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path
from typing import Any

import torch
from fick.domains.base import FickError

__all__ = ["add_data_commands", "load_named_dataset"]


def load_named_dataset(name: str, split: str = "all"):
    """A dataset by name ("qm9", "moses3d..." or an imported one) and split; returns
    (dataset, extras)."""
    from .data import (
        QM9_UNITS,
        is_moses3d,
        load_imported,
        load_named_moses3d,
        load_qm9,
        split_dataset,
    )

    if is_moses3d(name):
        return load_named_moses3d(name, split)
    if split == "test_scaffolds":
        raise FickError("--split test_scaffolds exists for MOSES3D only")
    if name.lower() == "qm9":
        qm9 = load_qm9(verbose=True)
        parts = {"train": qm9.train, "valid": qm9.valid, "test": qm9.test}
        if split == "all":
            from .data import MoleculeDataset

            ds = MoleculeDataset(qm9.train.packed, elements=qm9.train.elements,
                                 properties=qm9.train.properties, name="qm9")
            return ds, {"perception": qm9.perception, "units": QM9_UNITS,
                        "splits": {k: len(v) for k, v in parts.items()}}
        return parts[split], {"perception": qm9.perception, "units": QM9_UNITS}
    ds, extra = load_imported(name)
    if split == "all":
        return ds, extra
    return split_dataset(ds)[split], extra


def _histogram_line(counts: list[int], width: int = 40) -> list[str]:
    top = max(counts) if counts else 1
    return [f"  {n:4d} atoms {c:8d} {'#' * max(1, round(width * c / top)) if c else ''}"
            for n, c in enumerate(counts) if c]


def _stats(args: argparse.Namespace) -> int:
    ds, extra = load_named_dataset(args.name, args.split)
    info = ds.info(extra.get("units"))
    counts = ds.num_atoms().tolist()
    print(f"dataset {args.name} ({args.split}): {len(ds)} molecules, "
          f"{sum(counts)} atoms")
    if "splits" in extra:
        print("splits: " + ", ".join(f"{k} {v}" for k, v in extra["splits"].items()))
    if "perception" in extra:
        p = extra["perception"]
        print(f"bonds perceived from XYZ (all of QM9): {p['methods']}; SMILES agreement "
              f"with the dataset {100 * p['smiles_agreement']:.2f}%")
    if "report" in extra:
        r = extra["report"]
        print(f"imported {r['num_imported']} of {r['num_read']} read from {r['source']} "
              f"({len(r['skipped'])} skipped)")
    total = max(sum(info["atom_type_counts"].values()), 1)
    print("elements: " + ", ".join(f"{e} {c} ({100 * c / total:.1f}%)"
                                    for e, c in info["atom_type_counts"].items()))
    print(f"formal charges present: {info['charges']}; bond types present: "
          f"{info['bond_types']} (1 single, 2 double, 3 triple, 4 aromatic)")
    print(f"atoms per molecule: min {min(counts)}, median {statistics.median(counts):g}, "
          f"mean {statistics.fmean(counts):.2f}, max {max(counts)}")
    if args.histogram:
        print("\n".join(_histogram_line(info["num_atoms_hist"])))
    if info["properties"]:
        y = ds.property_matrix().double()
        print(f"{'property':>12s} {'unit':>10s} {'count':>8s} {'mean':>12s} {'std':>12s} "
              f"{'MAD':>12s} {'min':>12s} {'max':>12s}")
        for k, p in enumerate(info["properties"]):
            col = y[:, k][torch.isfinite(y[:, k])]
            lo, hi = (float(col.min()), float(col.max())) if len(col) else (math.nan, math.nan)
            print(f"{p:>12s} {info['units'].get(p, ''):>10s} {len(col):8d} "
                  f"{info['property_mean'][p]:12.4g} {info['property_std'][p]:12.4g} "
                  f"{info['property_mad'][p]:12.4g} {lo:12.4g} {hi:12.4g}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from .data import import_molecules

    ds, report = import_molecules(args.path, args.name, max_atoms=args.max_atoms)
    print(report.format())
    print(f"written to the cache as '{args.name}': use data.dataset={args.name} in a config")
    return 0


def _export_split(args: argparse.Namespace) -> int:
    from .export import write_csv, write_sdf, write_xyz

    ds, _ = load_named_dataset(args.name, args.split)
    n = len(ds) if args.limit is None else min(args.limit, len(ds))
    records = [ds[i] for i in range(n)]
    suffix = args.out.suffix.lower()
    scores: list[dict[str, Any]] = []
    for r in records:
        row: dict[str, Any] = {"source_index": int(r.index), "smiles": r.smiles}
        row.update({p: float(v) for p, v in zip(ds.properties, r.y.reshape(-1).tolist())})
        scores.append(row)
    if suffix in (".sdf", ".sd"):
        write_sdf(records, args.out, scores, elements=ds.elements, prefix=f"{args.name}")
    elif suffix == ".xyz":
        write_xyz(records, args.out, elements=ds.elements)
    elif suffix == ".csv":
        write_csv(records, args.out, scores, elements=ds.elements)
    else:
        raise FickError(f"unknown output format {suffix!r}: use --out FILE.sdf, .xyz or .csv")
    print(f"wrote {n} molecules of {args.name} ({args.split}) to {args.out}")
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from .data import load_qm9

    qm9 = load_qm9(workers=args.workers, rebuild=args.rebuild, verbose=True)
    print(f"QM9 ready: train {len(qm9.train)}, valid {len(qm9.valid)}, test {len(qm9.test)}; "
          f"bond perception {qm9.perception}")
    return 0


def _prepare_moses3d(args: argparse.Namespace) -> int:
    from .data import MOSES3D_SPLITS, prepare_moses3d

    splits = list(MOSES3D_SPLITS) if args.split == "all" else [args.split]
    for split in splits:
        m = prepare_moses3d(split, args.n, seed=args.seed, workers=args.workers,
                            shard_size=args.shard_size, out=args.out)
        run = m["run"]
        reasons = ", ".join(f"{k} {v}" for k, v in m["failure_reasons"].items()) or "none"
        rate = f"{run['molecules_per_s']:.2f} mol/s with {run['workers']} workers" if (
            run["molecules_per_s"]) else "nothing to compute"
        print(f"MOSES3D {split} (seed {m['seed']}): {m['molecules']} molecules in 3D from the "
              f"first {m['prepared_positions']} SMILES; failed {m['failed']} "
              f"({reasons}); this run {run['computed_molecules']} molecules in "
              f"{run['computed_shards']} shards ({run['skipped_shards']} already done), "
              f"{run['seconds']:.0f} s, {rate} -> {m['folder']}")
    name = "moses3d" if args.seed == 0 else f"moses3d-seed{args.seed}"
    if args.out is not None:
        name += f":{args.out}"
    print(f"use data.dataset={name} in a config")
    return 0


_SPLITS = ["all", "train", "valid", "test", "test_scaffolds"]


def add_data_commands(parser: argparse.ArgumentParser) -> None:
    """Add ``prepare-qm9``, ``prepare-moses3d``, ``import``, ``stats`` and ``export-split``."""
    sub = parser.add_subparsers(dest="molecules_command", required=True)

    p = sub.add_parser("prepare-moses3d",
                       help="give MOSES SMILES 3D structures (RDKit ETKDGv3 + MMFF94), in shards")
    p.add_argument("--n", type=int, default=10_000,
                   help="the first N SMILES of the seed's fixed permutation of the split "
                        "(a larger N later extends the same set)")
    p.add_argument("--split", default="train", choices=["train", "test", "test_scaffolds", "all"])
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--seed", type=int, default=0, help="which subset (the permutation's seed)")
    p.add_argument("--shard-size", type=int, default=1000, help="molecules per shard file")
    p.add_argument("--out", type=Path, default=None,
                   help="folder of the prepared splits (default $FICK_CACHE/molecules/moses3d)")
    p.set_defaults(func=_prepare_moses3d)

    p = sub.add_parser("prepare-qm9", help="process QM9 (qm9pack) once into the cache")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--rebuild", action="store_true", help="reprocess even if cached")
    p.set_defaults(func=_prepare)

    p = sub.add_parser("import", help="import an SDF file or a folder of SDF/MOL/MOL2/XYZ files")
    p.add_argument("path", type=Path)
    p.add_argument("--name", required=True, help="dataset name to use in configs")
    p.add_argument("--max-atoms", type=int, default=100,
                   help="skip molecules with more atoms (hydrogens included)")
    p.set_defaults(func=_import)

    p = sub.add_parser("stats", help="counts, elements, atom counts and property statistics")
    p.add_argument("name", help="'qm9', 'moses3d' or an imported dataset name")
    p.add_argument("--split", default="all", choices=_SPLITS)
    p.add_argument("--histogram", action="store_true", help="print the atom-count histogram")
    p.set_defaults(func=_stats)

    p = sub.add_parser("export-split", help="write a dataset split as SDF / XYZ / CSV")
    p.add_argument("name", help="'qm9', 'moses3d' or an imported dataset name")
    p.add_argument("--split", default="test", choices=_SPLITS)
    p.add_argument("--out", type=Path, required=True, help="FILE.sdf, FILE.xyz or FILE.csv")
    p.add_argument("--limit", type=int, default=None, help="first N molecules only")
    p.set_defaults(func=_export_split)
