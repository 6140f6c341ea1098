"""Per-molecule RDKit checks: validity (EDM's rule), fragments, drug-likeness (3D checks are
in ``posebusters_checks``).

Every function here takes one molecule and returns plain values; exceptions from RDKit are the
caller's to catch (``evaluate.py`` turns them into an invalid molecule with a reason).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from types import ModuleType

from rdkit import Chem, RDConfig
from rdkit.Chem import QED, Crippen, Descriptors, Lipinski

__all__ = [
    "druglikeness",
    "largest_fragment",
    "lipinski_violations",
    "sa_score",
    "sanitized",
]

def sanitized(mol: Chem.Mol) -> Chem.Mol | None:
    """A sanitized copy, or None if RDKit rejects it (EDM's validity test)."""
    m = Chem.Mol(mol)
    try:
        Chem.SanitizeMol(m)
    except Exception:  # noqa: BLE001 - valence / kekulization errors
        return None
    return m


def largest_fragment(mol: Chem.Mol) -> tuple[Chem.Mol, int]:
    """The fragment with the most atoms (EDM keeps its SMILES) and the number of fragments."""
    frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)
    return max(frags, key=lambda m: m.GetNumAtoms(), default=mol), len(frags)


@lru_cache(maxsize=1)
def _sascorer() -> ModuleType:
    # The SA score ships as a script in RDKit's Contrib folder, not as a module: import by path.
    path = f"{RDConfig.RDContribDir}/SA_Score/sascorer.py"
    spec = importlib.util.spec_from_file_location("fick_rdkit_sascorer", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"RDKit's SA score is missing at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.readFragmentScores()
    return module


def sa_score(mol: Chem.Mol) -> float:
    """Synthetic accessibility (1 easy .. 10 hard), Ertl & Schuffenhauer, RDKit Contrib."""
    return float(_sascorer().calculateScore(mol))


def lipinski_violations(mol: Chem.Mol) -> int:
    """Number of violated rule-of-5 criteria: MW <= 500, logP <= 5, HBD <= 5, HBA <= 10."""
    return int(Descriptors.MolWt(mol) > 500) + int(Crippen.MolLogP(mol) > 5) + int(
        Lipinski.NumHDonors(mol) > 5
    ) + int(Lipinski.NumHAcceptors(mol) > 10)


def druglikeness(mol: Chem.Mol) -> dict[str, float]:
    """QED, SA score, logP, MW and Lipinski (pass = at most one violation, Lipinski's own rule)
    of a sanitized molecule (hydrogens removed first, as these descriptors expect)."""
    heavy = Chem.RemoveHs(mol)
    v = lipinski_violations(heavy)
    return {
        "qed": float(QED.qed(heavy)),
        "sa": sa_score(heavy),
        "logp": float(Crippen.MolLogP(heavy)),
        "mol_weight": float(Descriptors.MolWt(heavy)),
        "lipinski_violations": float(v),
        "lipinski": float(v <= 1),
    }
