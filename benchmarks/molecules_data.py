"""Benchmark of the molecules data and metrics: QM9 processing / loading time and the
calibration of the evaluator on the full QM9 test split (EDM's published data row beside ours).

    python -m benchmarks.molecules_data [--cold] [--limit N] [--json out.json]

``--cold`` processes QM9 from qm9pack's CSVs into a temporary cache (time of a fresh machine).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from fick.domains.molecules.data import load_qm9
from fick.domains.molecules.metrics import evaluate_molecules, results_table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cold", action="store_true", help="time processing into a fresh cache")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None, help="first N test molecules only")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    args = ap.parse_args(argv)
    figures: dict[str, object] = {}

    if args.cold:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            load_qm9(Path(tmp), workers=args.workers)
            figures["process_s"] = time.perf_counter() - t
            print(f"QM9 processed cold in {figures['process_s']:.1f} s "
                  f"({args.workers} workers)")
    t = time.perf_counter()
    qm9 = load_qm9(workers=args.workers, verbose=True)
    figures["load_s"] = time.perf_counter() - t
    print(f"QM9 loaded in {figures['load_s']:.1f} s: train {len(qm9.train)}, "
          f"valid {len(qm9.valid)}, test {len(qm9.test)}")
    print(f"bond perception: {qm9.perception}")
    figures["perception"] = qm9.perception

    test = qm9.test if args.limit is None else qm9.test.subset(range(args.limit))
    records = test.records()
    train = qm9.train_smiles()
    rows = {}
    for mode in ("perceive", "given"):
        t = time.perf_counter()
        m, scores = evaluate_molecules(records, train_smiles=train, bonds=mode,
                                       return_scores=True)
        m["seconds"] = time.perf_counter() - t
        reasons: dict[str, int] = {}
        for s in scores:
            if s["reason"]:
                reasons[s["reason"]] = reasons.get(s["reason"], 0) + 1
        m["invalid_reasons"] = reasons
        name = f"QM9 test ({len(records)}), fick, bonds={mode}"
        rows[name] = m
        print(f"{name}: {json.dumps(m, indent=None, default=float)}")
    figures["test_split"] = rows
    print(results_table(rows))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
