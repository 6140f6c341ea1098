"""One entry point for molecule metrics: ``evaluate_molecules`` (and per-molecule scores).

Bonds come either from distances (``bonds="perceive"``: EDM's table rule, EDM's valences, charges
ignored, exactly as EDM counts stability and validity) or from the molecules themselves
(``bonds="given"``: for models that generate bonds; charge-aware valences, formal charges set on
the RDKit atoms). Validity, uniqueness and novelty follow EDM: build the RDKit molecule with those
bonds (implicit hydrogens allowed, as EDM's builder does), ``SanitizeMol``; a valid molecule
keeps the SMILES of its largest fragment; uniqueness = distinct SMILES among valid ones, novelty =
unique SMILES absent from the training set. SMILES are canonical, without stereo or explicit
hydrogens (``data.perception.canonical_smiles``), the same form as training sets.

RDKit is guarded: molecules above ``max_atoms`` skip the RDKit checks (invalid, reason given),
and any exception makes that one molecule invalid with its reason recorded: one bad molecule
never aborts an evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from rdkit import Chem

from ..data.perception import canonical_smiles, mol_from_atoms
from .chemistry import druglikeness, largest_fragment, sanitized
from .posebusters_checks import posebusters_checks
from .stability import atom_stability, bond_order_matrix, bonds_from_orders, given_bond_orders

__all__ = [
    "evaluate_molecules",
    "sanitized_largest_fragment",
    "score_molecule",
    "score_molecules",
    "summarize_scores",
]

QM9_ELEMENTS = ("H", "C", "N", "O", "F")


def _field(mol: Any, name: str, default: Any = None) -> Any:
    if isinstance(mol, dict):
        return mol.get(name, default)
    return getattr(mol, name, default) if name in mol else default


def _elements_of(mol: Any, elements: Sequence[str] | None) -> Sequence[str]:
    if elements is not None:
        return elements
    own = _field(mol, "elements")
    return own if own else QM9_ELEMENTS


def sanitized_largest_fragment(
    mol: Chem.Mol,
) -> tuple[Chem.Mol | None, Chem.Mol | None, str | None, str]:
    """EDM's validity of an RDKit molecule: (the sanitized molecule, its largest fragment, that
    fragment's canonical SMILES, "") when valid; otherwise what was reached and the reason."""
    clean = sanitized(mol)
    if clean is None:
        return None, None, None, "RDKit sanitization failed"
    frag, _ = largest_fragment(clean)
    smiles = canonical_smiles(frag)
    if smiles is None:
        return clean, frag, None, "no SMILES for the largest fragment"
    return clean, frag, smiles, ""


def score_molecule(
    mol: Any,
    elements: Sequence[str] | None = None,
    *,
    bonds: str = "perceive",
    druglike: bool = True,
    geometry: bool = True,
    max_atoms: int = 200,
) -> dict[str, Any]:
    """Scores of one molecule record (``pos``, ``atom_type``, optional ``charge``,
    ``bond_index``/``bond_type``). Keys: num_atoms, atom_stable (count), mol_stable, valid,
    smiles, num_fragments, connected, reason, and for valid ones qed, sa, lipinski and
    PoseBusters' molecule checks (``pb_*``, ``pb_valid``: all passed)."""
    if bonds not in ("perceive", "given"):
        raise ValueError(f"bonds must be 'perceive' or 'given', not {bonds!r}")
    elements = list(_elements_of(mol, elements))
    pos = torch.as_tensor(_field(mol, "pos")).detach().cpu().double().reshape(-1, 3)
    atom_type = torch.as_tensor(_field(mol, "atom_type")).detach().cpu().long().reshape(-1)
    n = int(pos.shape[0])
    charge = _field(mol, "charge")
    charge = torch.zeros(n, dtype=torch.long) if charge is None else torch.as_tensor(
        charge).detach().cpu().long().reshape(-1)
    out: dict[str, Any] = {"num_atoms": n, "atom_stable": 0, "mol_stable": 0.0, "valid": 0.0,
                           "smiles": None, "num_fragments": 0, "connected": 0.0, "reason": ""}
    if n == 0:
        out["reason"] = "no atoms"
        return out
    if int(atom_type.min()) < 0 or int(atom_type.max()) >= len(elements):
        out["reason"] = "atom type outside the element vocabulary"
        return out
    if not bool(torch.isfinite(pos).all()):
        out["reason"] = "non-finite coordinates"
        return out
    symbols = [elements[t] for t in atom_type.tolist()]

    if bonds == "perceive":
        order = bond_order_matrix(pos, atom_type, elements)
        stable = atom_stability(order, atom_type, elements, edm=True)
        bond_index, bond_type = bonds_from_orders(order)
        rd_charges = None  # EDM builds neutral atoms
    else:
        bond_index = torch.as_tensor(_field(mol, "bond_index", torch.zeros(2, 0))).long()
        bond_type = torch.as_tensor(_field(mol, "bond_type", torch.zeros(0))).long()
        keep = bond_type > 0  # generated "no bond" entries may be present
        bond_index, bond_type = bond_index[:, keep], bond_type[keep]
        order = given_bond_orders(n, bond_index, bond_type)
        stable = atom_stability(order, atom_type, elements, charge, edm=False)
        rd_charges = charge.tolist()
    out["atom_stable"] = int(stable.sum())
    out["mol_stable"] = float(bool(stable.all()))

    if n > max_atoms:
        out["reason"] = f"more than {max_atoms} atoms: RDKit checks skipped"
        return out
    try:
        rd = mol_from_atoms(symbols, pos.numpy(), rd_charges,
                            list(zip(*bond_index.tolist(), bond_type.tolist())))
        out["num_fragments"] = len(Chem.GetMolFrags(rd))
        out["connected"] = float(out["num_fragments"] == 1)
        clean, frag, smiles, reason = sanitized_largest_fragment(rd)
        if reason:
            out["reason"] = reason
            return out
        out["valid"], out["smiles"] = 1.0, smiles
        if druglike:
            out.update(druglikeness(frag))
        if geometry:  # PoseBusters' molecule checks, without its slow internal-energy one
            out.update(posebusters_checks([clean], "fast")[0])
    except Exception as err:  # noqa: BLE001 - one molecule must never abort the evaluation
        out["valid"], out["smiles"] = 0.0, None
        out["reason"] = f"RDKit error: {type(err).__name__}: {str(err).strip()[:200]}"
    return out


def score_molecules(
    molecules: Iterable[Any], elements: Sequence[str] | None = None, **kwargs: Any
) -> list[dict[str, Any]]:
    """``score_molecule`` of each molecule (same keyword arguments)."""
    return [score_molecule(m, elements, **kwargs) for m in molecules]


def _mean(scores: list[dict[str, Any]], key: str) -> float:
    vals = [s[key] for s in scores if key in s and s[key] is not None]
    vals = [v for v in vals if not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(vals)) if vals else math.nan


def summarize_scores(
    scores: list[dict[str, Any]], train_smiles: Iterable[str] | None = None
) -> dict[str, float]:
    """Dataset-level metrics from per-molecule scores (fractions in [0, 1])."""
    n = len(scores)
    if n == 0:
        return {"num_molecules": 0.0}
    atoms = sum(s["num_atoms"] for s in scores)
    valid = [s for s in scores if s["valid"]]
    smiles = [s["smiles"] for s in valid]
    unique = set(smiles)
    out = {
        "num_molecules": float(n),
        "atom_stability": sum(s["atom_stable"] for s in scores) / max(atoms, 1),
        "mol_stability": _mean(scores, "mol_stable"),
        "validity": len(valid) / n,
        "uniqueness": len(unique) / len(valid) if valid else math.nan,
        "valid_unique": len(unique) / n,
        "connected": _mean(scores, "connected"),
        "valid_connected": sum(1 for s in valid if s["connected"]) / n,
    }
    if train_smiles is not None:
        train = train_smiles if isinstance(train_smiles, set | frozenset) else set(train_smiles)
        novel = [s for s in unique if s not in train]
        out["novelty"] = len(novel) / len(unique) if unique else math.nan
        out["valid_unique_novel"] = len(novel) / n
    pb_keys = [k for k in dict.fromkeys(k for s in valid for k in s) if k.startswith("pb_")]
    for key in ("qed", "sa", "lipinski", *pb_keys):
        if any(key in s for s in valid):
            out[key] = _mean(valid, key)
    return out


def evaluate_molecules(
    molecules: Iterable[Any],
    *,
    train_smiles: Iterable[str] | None = None,
    bonds: str = "perceive",
    elements: Sequence[str] | None = None,
    druglike: bool = True,
    geometry: bool = True,
    max_atoms: int = 200,
    return_scores: bool = False,
) -> dict[str, float] | tuple[dict[str, float], list[dict[str, Any]]]:
    """Metrics of a list of molecule records (see the module docstring for the definitions).

    ``elements``: the vocabulary ``atom_type`` indexes (default: each record's ``elements``
    attribute, else QM9's H C N O F). ``return_scores=True`` also returns the per-molecule
    scores (for SD tags and CSV export)."""
    scores = score_molecules(molecules, elements, bonds=bonds, druglike=druglike,
                             geometry=geometry, max_atoms=max_atoms)
    summary = summarize_scores(scores, train_smiles)
    return (summary, scores) if return_scores else summary
