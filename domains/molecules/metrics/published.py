"""Published rows (from ../shared/anchors.md) to print beside fick's own numbers.

Values are fractions in [0, 1] like ``evaluate_molecules``' output; ``None`` = not reported.
All QM9 rows use EDM's metric definitions (distance-table bonds) unless the note says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

__all__ = ["MOSES_CITATION", "PUBLISHED_GEOM_DRUGS", "PUBLISHED_MOSES", "PUBLISHED_QM9",
           "TABLE_METRICS", "published_rows", "results_table"]

TABLE_METRICS = ("atom_stability", "mol_stability", "validity", "valid_unique")

PUBLISHED_QM9: dict[str, dict[str, float | str | None]] = {
    "QM9 data (EDM paper)": {
        "atom_stability": 0.990, "mol_stability": 0.952, "validity": 0.977,
        "valid_unique": 0.977, "note": "real molecules, EDM's metric",
    },
    "EDM (Hoogeboom 2022)": {
        "atom_stability": 0.987, "mol_stability": 0.820, "validity": 0.919,
        "valid_unique": 0.907, "note": "1000 steps, 10,000 samples",
    },
    "GeoLDM (2023)": {
        "atom_stability": 0.989, "mol_stability": 0.894, "validity": 0.938,
        "valid_unique": 0.927, "note": "1000 steps",
    },
    "GeoBFN (2024), 100 steps": {
        "atom_stability": 0.986, "mol_stability": 0.872, "validity": 0.930,
        "valid_unique": None, "note": "100 steps",
    },
    "MolFLAE (2025)": {
        "atom_stability": 0.994, "mol_stability": 0.920, "validity": 0.968,
        "valid_unique": None, "note": "",
    },
    "SemlaFlow (2025)": {
        "atom_stability": 0.999, "mol_stability": 0.997, "validity": 0.994,
        "valid_unique": None, "uniqueness": 0.954,
        "note": "joint atoms+bonds, its own metric definition; 20 steps",
    },
}


# MOSES's 2D baselines (SMILES / graph generators, no coordinates), as one version of the MOSES
# README lists them (Polykovskiy et al. 2020, "Molecular Sets (MOSES)", Front. Pharmacol.):
# metrics of 30,000 samples against MOSES's test set (FCD/Test, SNN/Test, Frag/Test, Scaf/Test).
MOSES_CITATION = ("Polykovskiy et al. 2020, Molecular Sets (MOSES), Front. Pharmacol. 11:565644;"
                  " values as one version of the MOSES README lists them")
PUBLISHED_MOSES: dict[str, dict[str, float]] = {
    "CharRNN": {"validity": 0.960, "fcd/test": 0.323, "snn/test": 0.461, "frag/test": 0.998,
                "scaf/test": 0.796, "intdiv": 0.856, "filters": 0.992},
    "VAE": {"validity": 0.953, "fcd/test": 0.254, "snn/test": 0.468, "frag/test": 0.998,
            "scaf/test": 0.828, "intdiv": 0.855, "filters": 0.993},
    "JTN-VAE": {"validity": 1.000, "fcd/test": 4.377, "snn/test": 0.391, "frag/test": 0.968,
                "scaf/test": 0.387, "intdiv": 0.850, "filters": 0.957},
}

# 3D generators on GEOM-Drugs (other data than MOSES3D: a guide, not a like-for-like row).
PUBLISHED_GEOM_DRUGS: dict[str, dict[str, float | str | None]] = {
    "EDM (Hoogeboom et al. 2022)": {
        "atom_stability": 0.813, "validity": 0.926,
        "note": "GEOM-Drugs; EDM's distance-table bonds",
    },
    "FlowMol3 (Dunn & Koes 2025)": {
        "atom_stability": None, "validity": None,
        "note": "GEOM-Drugs with explicit H: 'near-100% validity' (no figure recorded here)",
    },
}


def published_rows(which: Sequence[str] = ("QM9 data (EDM paper)", "EDM (Hoogeboom 2022)")
                   ) -> dict[str, dict[str, float | str | None]]:
    """The published QM9 rows by name (default: the data row and EDM's row)."""
    unknown = [w for w in which if w not in PUBLISHED_QM9]
    if unknown:
        raise KeyError(f"unknown published rows {unknown}: choose from {sorted(PUBLISHED_QM9)}")
    return {w: PUBLISHED_QM9[w] for w in which}


def _cell(v: object) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{100 * float(v):.1f}" if isinstance(v, int | float) else str(v)


def results_table(
    ours: Mapping[str, Mapping[str, float]],
    *,
    metrics: Sequence[str] = TABLE_METRICS,
    published: Sequence[str] = ("QM9 data (EDM paper)", "EDM (Hoogeboom 2022)"),
) -> str:
    """A Markdown table (percentages): the published rows first, then ``ours`` (name -> metrics)."""
    header = "| row | " + " | ".join(metrics) + " |"
    lines = [header, "|" + "---|" * (len(metrics) + 1)]
    for name, row in list(published_rows(published).items()) + list(ours.items()):
        lines.append(f"| {name} | " + " | ".join(_cell(row.get(m)) for m in metrics) + " |")
    return "\n".join(lines)
