"""Per-molecule RDKit checks: validity (EDM's rule), fragments, drug-likeness, geometry sanity.

Every function here takes one molecule and returns plain values; exceptions from RDKit are the
caller's to catch (``evaluate.py`` turns them into an invalid molecule with a reason).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from types import ModuleType

import numpy as np
from rdkit import Chem, RDConfig
from rdkit.Chem import QED, Crippen, Descriptors, Lipinski, rdDistGeom

__all__ = [
    "GEOMETRY_TOLERANCES",
    "druglikeness",
    "geometry_checks",
    "largest_fragment",
    "lipinski_violations",
    "sa_score",
    "sanitized",
]

# PoseBusters' protocol (its "mol" configuration): heavy atoms only; bond lengths and bond
# angles (through 1-3 distances) may leave RDKit's distance-geometry bounds by 25%; other pairs
# clash when more than 30% closer than the bounds' lower limit (built from van der Waals radii).
GEOMETRY_TOLERANCES = {"bond": 0.25, "angle": 0.25, "clash": 0.3}
_BOUNDS_PARAMS = {"set15bounds": True, "scaleVDW": True, "doTriangleSmoothing": True,
                  "useMacrocycle14config": False}


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


def geometry_checks(mol: Chem.Mol) -> dict[str, float]:
    """PoseBusters-like internal geometry of a sanitized molecule with one conformer.

    Hydrogens are removed first (as PoseBusters does by default). RDKit's distance-geometry
    bounds matrix (upper triangle = upper bounds, lower = lower bounds) gives each pair's range:
    bonds (1-2 pairs) and angles (1-3 pairs) must lie within it widened by the tolerance; other
    pairs must not be closer than (1 - clash tolerance) x lower bound. Returns 1.0 / 0.0 flags and
    the fraction of bonds within bounds."""
    heavy = Chem.RemoveHs(mol)
    n = heavy.GetNumAtoms()
    if n < 2:
        return {"bond_lengths_ok": 1.0, "bond_length_fraction": 1.0, "bond_angles_ok": 1.0,
                "no_clash": 1.0}
    pos = heavy.GetConformer().GetPositions()
    bounds = rdDistGeom.GetMoleculeBoundsMatrix(heavy, **_BOUNDS_PARAMS)
    iu = np.triu_indices(n, 1)
    upper, lower = bounds[iu], bounds.T[iu]
    d = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)[iu]
    topo = Chem.GetDistanceMatrix(heavy)[iu]
    tol = GEOMETRY_TOLERANCES
    ok_bond = (d >= lower * (1 - tol["bond"])) & (d <= upper * (1 + tol["bond"]))
    ok_angle = (d >= lower * (1 - tol["angle"])) & (d <= upper * (1 + tol["angle"]))
    bonds, angles, far = topo == 1, topo == 2, topo > 2
    clash = far & (d < lower * (1 - tol["clash"]))
    return {
        "bond_lengths_ok": float(ok_bond[bonds].all()) if bonds.any() else 1.0,
        "bond_length_fraction": float(ok_bond[bonds].mean()) if bonds.any() else 1.0,
        "bond_angles_ok": float(ok_angle[angles].all()) if angles.any() else 1.0,
        "no_clash": float(not clash.any()),
    }
