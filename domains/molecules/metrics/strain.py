"""MMFF94 strain energy of a 3D molecule: its energy as given minus the energy after a local
relaxation (kcal/mol), the strain SemlaFlow and FlowMol3 report for generated conformers.

The hydrogens are taken as given (none added: a missing hydrogen is part of what is judged) and
the relaxation is RDKit's MMFF94 minimiser from the given coordinates until convergence (at most
``max_iters`` steps), so the minimum found is the nearest local one, not the global one.
"""

from __future__ import annotations

import math

from rdkit import Chem
from rdkit.Chem import rdForceFieldHelpers

__all__ = ["mmff_strain"]


def mmff_strain(mol: Chem.Mol, max_iters: int = 2000) -> tuple[float, str]:
    """(strain in kcal/mol, "") or (NaN, why it could not be computed) for a molecule with
    one conformer."""
    m = Chem.Mol(mol)
    try:
        Chem.SanitizeMol(m)
    except Exception:  # noqa: BLE001 - RDKit raises several types
        return math.nan, "does not sanitize"
    if m.GetNumConformers() == 0:
        return math.nan, "no conformer"
    props = rdForceFieldHelpers.MMFFGetMoleculeProperties(m)
    if props is None or not rdForceFieldHelpers.MMFFHasAllMoleculeParams(m):
        return math.nan, "no MMFF94 parameters"
    field = rdForceFieldHelpers.MMFFGetMoleculeForceField(m, props)
    if field is None:
        return math.nan, "no MMFF94 force field"
    before = field.CalcEnergy()
    field.Minimize(maxIts=max_iters)
    after = field.CalcEnergy()
    if not (math.isfinite(before) and math.isfinite(after)):
        return math.nan, "non-finite MMFF94 energy"
    return float(before - after), ""
