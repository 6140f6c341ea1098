"""Typical covalent bond lengths (pm) and allowed valences, for distance-based bond orders.

The lengths are the standard average bond lengths of general-chemistry reference tables (the
"bond lengths and energies" tables used in textbooks; EDM's stability metric used such a table,
see anchors.md). Only pairs listed have a bond of that order; any other pair is never bonded.
The real QM9 test split scored with these tables gives EDM's published data row (calibration
test in tests/domains/molecules/test_metrics_calibration.py).
"""

from __future__ import annotations

__all__ = [
    "ALLOWED_VALENCES",
    "BOND_MARGINS_PM",
    "DOUBLE_BOND_PM",
    "EDM_VALENCES",
    "MIDI_VALENCES",
    "SINGLE_BOND_PM",
    "TRIPLE_BOND_PM",
    "allowed_valences",
    "typical_length",
]


def _symmetric(table: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for a, row in table.items():
        for b, v in row.items():
            for x, y in ((a, b), (b, a)):
                prev = out.setdefault(x, {}).get(y)
                if prev is not None and prev != v:
                    raise ValueError(f"inconsistent bond length {x}-{y}: {prev} vs {v}")
                out[x][y] = v
    return out


# Single bonds (pm).
SINGLE_BOND_PM = _symmetric({
    "H": {"H": 74, "C": 109, "N": 101, "O": 96, "F": 92, "B": 119, "Si": 148, "P": 144,
          "As": 152, "S": 134, "Cl": 127, "Br": 141, "I": 161},
    "C": {"C": 154, "N": 147, "O": 143, "F": 135, "Si": 185, "P": 184, "S": 182, "Cl": 177,
          "Br": 194, "I": 214},
    "N": {"N": 145, "O": 140, "F": 136, "Cl": 175, "Br": 214, "S": 168, "I": 222, "P": 177},
    "O": {"O": 148, "F": 142, "Br": 172, "S": 151, "P": 163, "Si": 163, "Cl": 164, "I": 194},
    "F": {"F": 142, "S": 158, "Si": 160, "Cl": 166, "Br": 178, "P": 156, "I": 187},
    "B": {"Cl": 175},
    "Si": {"Si": 233, "S": 200, "Cl": 202, "Br": 215, "I": 243},
    "Cl": {"Cl": 199, "P": 203, "S": 207, "Br": 214},
    "S": {"S": 204, "Br": 225, "P": 210, "I": 234},
    "Br": {"Br": 228, "P": 222},
    "P": {"P": 221},
    "I": {"I": 266},
})

# Double bonds (pm).
DOUBLE_BOND_PM = _symmetric({
    "C": {"C": 134, "N": 129, "O": 120, "S": 160},
    "N": {"N": 125, "O": 121},
    "O": {"O": 121, "P": 150},
    "P": {"S": 186},
})

# Triple bonds (pm).
TRIPLE_BOND_PM = _symmetric({
    "C": {"C": 120, "N": 116, "O": 113},
    "N": {"N": 110},
})

# Margins (pm) added to the typical length of each order: a pair is bonded with the highest
# order whose length + margin exceeds the distance (EDM's rule).
BOND_MARGINS_PM = (10.0, 5.0, 3.0)

# EDM's valences (its metric ignores formal charges): an int or a set of allowed sums.
EDM_VALENCES: dict[str, tuple[int, ...]] = {
    "H": (1,), "C": (4,), "N": (3,), "O": (2,), "F": (1,), "B": (3,), "Al": (3,), "Si": (4,),
    "P": (3, 5), "S": (4,), "Cl": (1,), "As": (3,), "Br": (1,), "I": (1,), "Hg": (1, 2),
    "Bi": (3, 5),
}

# MiDi's allowed valences with formal charges (Vignac et al. 2023, "MiDi: Mixed Graph and 3D
# Denoising Diffusion for Molecule Generation", table `allowed_bonds` of its
# midi/analysis/rdkit_functions.py), the table EQGAT-diff, SemlaFlow and FlowMol copied for their
# GEOM-Drugs stability: element -> allowed sums, or charge -> allowed sums. Quirks are kept on
# purpose so that numbers compare: neutral C may have 3 and neutral N 2 bonds, neutral S 2 or 6
# (a sulfoxide's 4 is unstable unless written S+ / O-), Cl and I ignore their charge.
MIDI_VALENCES: dict[str, tuple[int, ...] | dict[int, tuple[int, ...]]] = {
    "H": {0: (1,), 1: (0,), -1: (0,)},
    "C": {0: (3, 4), 1: (3,), -1: (3,)},
    "N": {0: (2, 3), 1: (2, 3, 4), -1: (2,)},
    "O": {0: (2,), 1: (3,), -1: (1,)},
    "F": {0: (1,), -1: (0,)},
    "B": (3,), "Al": (3,), "Si": (4,),
    "P": {0: (3, 5), 1: (4,)},
    "S": {0: (2, 6), 1: (2, 3), 2: (4,), 3: (5,), -1: (3,)},
    "Cl": (1,), "As": (3,),
    "Br": {0: (1,), 1: (2,)}, "I": (1,), "Hg": (1, 2), "Bi": (3, 5), "Se": (2, 4, 6),
}

# The neutral entries of MiDi's table (what ``allowed_valences(element)`` gives).
ALLOWED_VALENCES: dict[str, tuple[int, ...]] = {
    k: (v.get(0, ()) if isinstance(v, dict) else v) for k, v in MIDI_VALENCES.items()
}


def allowed_valences(element: str, charge: int = 0, *, edm: bool = False) -> tuple[int, ...]:
    """Allowed sums of bond orders for an atom (empty tuple: element unknown to the tables).

    ``edm=True``: EDM's table, charges ignored (QM9 numbers as EDM publishes them). Otherwise
    MiDi's charge-aware table (``MIDI_VALENCES``), looked up as MiDi's ``check_stability`` does:
    an element with one list ignores the charge; a charge missing from an element's entries
    falls back to its neutral entry (MiDi: ``possible_bonds.get(charge, possible_bonds[0])``)."""
    if edm:
        return EDM_VALENCES.get(element, ())
    entry = MIDI_VALENCES.get(element, ())
    if isinstance(entry, dict):
        return entry.get(int(charge), entry.get(0, ()))
    return entry


def typical_length(a: str, b: str, order: int) -> float | None:
    """Typical length (pm) of an a-b bond of ``order`` (1, 2, 3; 4 = aromatic: mean of 1 and 2)."""
    if order == 4:
        s, d = typical_length(a, b, 1), typical_length(a, b, 2)
        return None if s is None else (s if d is None else (s + d) / 2)
    table = {1: SINGLE_BOND_PM, 2: DOUBLE_BOND_PM, 3: TRIPLE_BOND_PM}.get(order)
    if table is None:
        return None
    v = table.get(a, {}).get(b)
    return None if v is None else float(v)
