"""Evaluate any SDF file (or a folder of them): the molecules exactly as the file gives them.

Bonds, formal charges and hydrogens come from the file. Per molecule (``score_rdkit_molecule``):
- ``atom_stable`` / ``mol_stable``: MiDi's charge-aware valences (``bond_tables.MIDI_VALENCES``,
  as EQGAT-diff / SemlaFlow / FlowMol count them), on kekulized bonds where RDKit can kekulize;
- ``valid``: RDKit sanitization of the whole molecule with its formal charges; ``connected``;
  ``smiles`` (the whole molecule, radicals as they are) and ``largest_fragment_smiles`` (EDM's
  canonical SMILES, the one uniqueness, novelty and the MOSES metrics use);
- QED, SA, logP, MW, Lipinski; ``moses_filters`` (MCF + PAINS + MOSES's rules); PoseBusters'
  molecule checks (``pb_*``); ``strain`` (MMFF94 energy before minus after local relaxation).
The summary adds uniqueness, novelty and the MOSES metrics against the given references.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fick.domains.base import FickError
from rdkit import Chem, rdBase

from .bond_tables import allowed_valences
from .chemistry import druglikeness
from .evaluate import sanitized_largest_fragment
from .moses_metrics import passes_filters
from .moses_reference import MosesReference, moses_metrics
from .posebusters_checks import posebusters_checks
from .sdf_reader import SdfRecord, SkippedRecord
from .strain import mmff_strain

__all__ = [
    "SdfEvaluation",
    "evaluate_rdkit_molecules",
    "evaluate_records",
    "evaluate_sdf_files",
    "midi_stability",
    "score_rdkit_molecule",
]


def midi_stability(mol: Chem.Mol) -> list[bool]:
    """Per atom: is the sum of its bond orders (plus hydrogens written as counts on the atom)
    an allowed valence for its element and formal charge (MiDi's table)? Aromatic bonds are
    kekulized first; where that fails they count 1.5."""
    m = Chem.Mol(mol)
    try:
        Chem.Kekulize(m, clearAromaticFlags=True)
    except Exception:  # noqa: BLE001 - keep 1.5 for a non-kekulizable ring
        pass
    out = []
    for atom in m.GetAtoms():
        valence = sum(b.GetBondTypeAsDouble() for b in atom.GetBonds()) + atom.GetNumExplicitHs()
        allowed = allowed_valences(atom.GetSymbol(), atom.GetFormalCharge())
        out.append(any(abs(valence - v) < 1e-6 for v in allowed))
    return out


def _whole_smiles(mol: Chem.Mol) -> str:
    try:
        m = Chem.RemoveHs(mol, sanitize=False)
        return Chem.MolToSmiles(m, isomericSmiles=False)
    except Exception:  # noqa: BLE001 - an odd graph still gets a row, without SMILES
        return ""


def score_rdkit_molecule(mol: Chem.Mol, *, strain: bool = True) -> dict[str, Any]:
    """Per-molecule scores of one molecule from an SDF (see the module docstring)."""
    stable = midi_stability(mol)
    frags = Chem.GetMolFrags(mol)
    out: dict[str, Any] = {
        "num_atoms": mol.GetNumAtoms(), "atom_stable": int(sum(stable)),
        "mol_stable": float(all(stable)), "valid": 0.0, "num_fragments": len(frags),
        "connected": float(len(frags) == 1), "smiles": None, "largest_fragment_smiles": None,
        "reason": "",
    }
    clean, frag, frag_smiles, reason = sanitized_largest_fragment(mol)
    out["smiles"] = _whole_smiles(clean if clean is not None else mol)
    if reason:
        out["reason"] = reason
        return out
    out["valid"], out["largest_fragment_smiles"] = 1.0, frag_smiles
    try:
        out.update(druglikeness(frag))
        out["moses_filters"] = float(passes_filters(Chem.MolFromSmiles(frag_smiles)))
    except Exception as err:  # noqa: BLE001 - one molecule never aborts the evaluation
        out["reason"] = f"descriptor error: {type(err).__name__}: {str(err)[:120]}"
    if strain:
        out["strain"], why = mmff_strain(mol)
        if why:
            out["strain_reason"] = why
    return out


@dataclass
class SdfEvaluation:
    """The metrics of a set of SDF records, their per-molecule scores, and the skipped ones."""

    metrics: dict[str, float]
    records: list[SdfRecord]
    scores: list[dict[str, Any]]
    skipped: list[SkippedRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _mean(rows: Sequence[dict[str, Any]], key: str) -> float:
    vals = [r[key] for r in rows if isinstance(r.get(key), int | float) and not math.isnan(r[key])]
    return float(np.mean(vals)) if vals else math.nan


def evaluate_rdkit_molecules(
    records: Sequence[SdfRecord],
    skipped: Sequence[SkippedRecord] = (),
    *,
    train_smiles: Iterable[str] | None = None,
    references: dict[str, MosesReference] | None = None,
    posebusters: str | None = "fast",
    strain: bool = True,
) -> SdfEvaluation:
    """Score every record, then summarise (fractions over all records read, skipped ones
    included in ``num_records``; drug-likeness, PoseBusters and strain over the valid ones)."""
    with rdBase.BlockLogs():  # RDKit's per-molecule warnings; reasons are in the scores
        scores = [score_rdkit_molecule(r.mol, strain=strain) for r in records]
        if posebusters:
            for s, pb in zip(scores, posebusters_checks([r.mol for r in records], posebusters)):
                s.update(pb)
    n = len(scores)
    metrics: dict[str, float] = {"num_records": float(n + len(skipped)),
                                 "num_skipped": float(len(skipped)), "num_molecules": float(n)}
    notes = []
    if n == 0:
        return SdfEvaluation(metrics, list(records), scores, list(skipped), notes)
    valid = [s for s in scores if s["valid"]]
    smiles = [s["largest_fragment_smiles"] for s in valid]
    unique = set(smiles)
    metrics.update({
        "atom_stability": sum(s["atom_stable"] for s in scores) / max(
            sum(s["num_atoms"] for s in scores), 1),
        "mol_stability": _mean(scores, "mol_stable"),
        "validity": len(valid) / n,
        "connected": _mean(scores, "connected"),
        "valid_connected": sum(1 for s in valid if s["connected"]) / n,
        "uniqueness": len(unique) / len(valid) if valid else math.nan,
        "valid_unique": len(unique) / n,
    })
    train = None
    if train_smiles is not None:
        train = train_smiles if isinstance(train_smiles, set | frozenset) else set(train_smiles)
        metrics["novelty"] = len(unique - train) / len(unique) if unique else math.nan
    keys = ["qed", "sa", "logp", "mol_weight", "lipinski", "moses_filters"]
    keys += [k for k in dict.fromkeys(k for s in valid for k in s) if k.startswith("pb_")]
    for key in keys:
        metrics[key] = _mean(valid, key)
    if strain:
        values = [s["strain"] for s in valid if math.isfinite(s.get("strain", math.nan))]
        metrics["strain_mean"] = float(np.mean(values)) if values else math.nan
        metrics["strain_median"] = float(np.median(values)) if values else math.nan
        if len(values) < len(valid):
            notes.append(f"strain: no MMFF94 energy for {len(valid) - len(values)} valid "
                         "molecules (see strain_reason)")
    if not any(a.GetAtomicNum() == 1 for r in records for a in r.mol.GetAtoms()):
        notes.append("no hydrogen atoms in the file: stability counts explicit atoms only, so "
                     "heavy-atom-only molecules read as unstable")
    if references and smiles:
        metrics.update(moses_metrics(smiles, references, train_smiles=train))
    metrics = {k: v for k, v in metrics.items() if not (isinstance(v, float) and math.isnan(v))}
    return SdfEvaluation(metrics, list(records), scores, list(skipped), notes)


def _moses_applies(scores: Sequence[dict[str, Any]]) -> bool:
    """MOSES's test set is drug-like (ZINC clean leads, C N O S F Cl Br H): compare with it only
    molecules of that kind, so a QM9 file (at most 9 heavy atoms) is not scored against it."""
    from .moses_metrics import FILTER_ATOMS

    valid = [s for s in scores if s["valid"]]
    if not valid:
        return False
    heavy = [Chem.MolFromSmiles(s["largest_fragment_smiles"]) for s in valid]
    symbols = {a.GetSymbol() for m in heavy if m is not None for a in m.GetAtoms()}
    return symbols <= FILTER_ATOMS and float(np.median([m.GetNumAtoms() for m in heavy
                                                        if m is not None])) >= 10


MOSES_SETS = {"test": "test", "testsf": "test_scaffolds"}  # metric suffix -> MOSES split


def evaluate_records(
    records: Sequence[SdfRecord],
    skipped: Sequence[SkippedRecord] = (),
    *,
    moses: str = "auto",
    posebusters: str | None = "fast",
    strain: bool = True,
    train_smiles: Iterable[str] | None = None,
    references: Sequence[str] = ("test", "testsf"),
    exclude_evaluated: bool = False,
) -> SdfEvaluation:
    """``evaluate_rdkit_molecules`` plus the MOSES metrics: the one evaluator behind
    ``fick evaluate FILE.sdf`` and ``fick evaluate MODEL`` of a drug-like model.

    ``moses``: "auto" (the full MOSES test and scaffold-test sets when the molecules are
    drug-like, see ``_moses_applies``), "all", a subset size N (a fixed random subset of each
    set, cached apart), or "none". ``novelty`` is against ``train_smiles`` (when given),
    ``novelty_moses`` against MOSES's training SMILES. ``references``: which of MOSES's test
    ("test") and scaffold-test ("testsf") sets to compare with. ``exclude_evaluated``: compare
    with the references less the evaluated molecules (MOSES test molecules are in the test
    set)."""
    from .moses_metrics import moses_smiles
    from .moses_reference import reference_smiles, reference_statistics

    choice = str(moses).strip().lower()
    if choice not in ("auto", "all", "none") and not choice.isdigit():
        raise FickError(f"moses={moses!r}: use auto, all, none or a reference size N")
    unknown = [r for r in references if r not in MOSES_SETS]
    if unknown or not references:
        raise FickError(f"MOSES references {list(references)}: choose from {list(MOSES_SETS)}")
    result = evaluate_rdkit_molecules(records, skipped, posebusters=posebusters, strain=strain,
                                      train_smiles=train_smiles)
    if choice == "auto":
        choice = "all" if _moses_applies(result.scores) else "none"
        if choice == "none" and result.scores:
            result.notes.append("MOSES metrics skipped: these molecules are not drug-like "
                                "(pass --moses all to compare with MOSES's test set anyway)")
    smiles = [s["largest_fragment_smiles"] for s in result.scores if s["valid"]]
    if choice == "none" or not smiles:
        return result
    size = None if choice == "all" else int(choice)
    refs = {r: reference_statistics(MOSES_SETS[r], size) for r in references}
    if exclude_evaluated:
        refs = {r: ref.excluding(reference_smiles(MOSES_SETS[r], size), smiles)
                for r, ref in refs.items()}
    result.notes.append("MOSES references: " + ", ".join(
        f"{ref.size} {MOSES_SETS[r].replace('_', '-')} SMILES" for r, ref in refs.items()))
    result.metrics.update(moses_metrics(smiles, refs, train_smiles=set(moses_smiles("train"))))
    return result


def evaluate_sdf_files(
    paths: Sequence[Any],
    *,
    moses: str = "auto",
    posebusters: str | None = "fast",
    strain: bool = True,
    train_smiles: Iterable[str] | None = None,
) -> SdfEvaluation:
    """Read SDF files (bad records skipped and named) and ``evaluate_records`` the rest."""
    from .sdf_reader import read_sdf_files

    records, skipped = read_sdf_files(paths)
    return evaluate_records(records, skipped, moses=moses, posebusters=posebusters,
                            strain=strain, train_smiles=train_smiles)
