"""Drug-like molecule records (a MOSES3D model's samples, the prepared MOSES3D molecules) through
the evaluator of ``fick evaluate FILE.sdf`` (``evaluate_sdf.evaluate_records``): one code path.

Each record becomes the RDKit molecule its SDF would hold (``export.to_rdkit``: its own atoms,
formal charges, bonds and coordinates), so ``fick evaluate MODEL`` of a drug-like model and
``fick evaluate samples.sdf`` report the same validity, MiDi stability, PoseBusters checks,
MMFF strain and MOSES metrics for the same molecules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .evaluate_sdf import SdfEvaluation, evaluate_records
from .sdf_reader import SdfRecord

__all__ = ["druglike_sample_metrics", "evaluate_druglike_records", "is_druglike", "sdf_records"]


def is_druglike(info: Mapping[str, Any]) -> bool:
    """Was the model trained on drug-like molecules (a MOSES3D dataset, by its data info)?"""
    from ..data.moses3d_dataset import is_moses3d

    return is_moses3d(str(info.get("dataset") or ""))


def sdf_records(molecules: Sequence[Any], elements: Sequence[str] | None = None,
                source: str = "samples") -> list[SdfRecord]:
    """The molecule records as the SDF records a file of them would give (1-based numbers)."""
    from ..export import to_rdkit

    return [SdfRecord(Path(source), i + 1, to_rdkit(m, elements))
            for i, m in enumerate(molecules)]


def evaluate_druglike_records(
    molecules: Sequence[Any],
    elements: Sequence[str] | None = None,
    *,
    train_smiles: Iterable[str] | None = None,
    moses: str = "all",
    posebusters: str | None = "fast",
    strain: bool = True,
    references: Sequence[str] = ("test", "testsf"),
    exclude_evaluated: bool = False,
) -> SdfEvaluation:
    """``evaluate_records`` of molecule records (options as there; MOSES on by default)."""
    return evaluate_records(sdf_records(molecules, elements), moses=moses,
                            posebusters=posebusters, strain=strain, train_smiles=train_smiles,
                            references=references, exclude_evaluated=exclude_evaluated)


def druglike_sample_metrics(samples: Sequence[Any], elements: Sequence[str],
                            train_smiles: Iterable[str] | None = None) -> dict[str, float]:
    """The metrics of a drug-like model's samples (its notes printed, as for a file)."""
    result = evaluate_druglike_records(samples, elements, train_smiles=train_smiles)
    for note in result.notes:
        print(f"note: {note}")
    return result.metrics
