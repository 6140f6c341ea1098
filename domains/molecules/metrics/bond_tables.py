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

# The usual neutral valences for users' data (S 2/4/6 where EDM's GEOM setting used 4 only).
ALLOWED_VALENCES: dict[str, tuple[int, ...]] = {
    **EDM_VALENCES, "S": (2, 4, 6), "P": (3, 5), "Se": (2,),
}

# Group of the main-group elements, for how a formal charge changes the valence.
_GROUP = {"H": 1, "B": 13, "Al": 13, "C": 14, "Si": 14, "N": 15, "P": 15, "As": 15, "Bi": 15,
          "O": 16, "S": 16, "Se": 16, "F": 17, "Cl": 17, "Br": 17, "I": 17}


def allowed_valences(element: str, charge: int = 0, *, edm: bool = False) -> tuple[int, ...]:
    """Allowed sums of bond orders for an atom (empty tuple: element unknown to the tables).

    With a formal charge (non-EDM mode): groups 15-17 gain one bond per positive charge and lose
    one per negative charge (N+ 4, O- 1); carbon loses one per unit of either sign (C+ / C- 3);
    group 13 gains one per negative charge (B- 4); hydrogen with any charge has none."""
    base = (EDM_VALENCES if edm else ALLOWED_VALENCES).get(element, ())
    if edm or charge == 0 or not base:
        return base
    group = _GROUP.get(element)
    if group in (15, 16, 17):
        shifted = tuple(v + charge for v in base)
    elif group == 14:
        shifted = tuple(v - abs(charge) for v in base)
    elif group == 13:
        shifted = tuple(v - charge for v in base)
    elif group == 1:
        shifted = (1 - abs(charge),)
    else:
        shifted = base
    return tuple(v for v in shifted if v >= 0)


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
