"""Molecule metrics: EDM-compatible stability, RDKit validity / uniqueness / novelty,
drug-likeness (QED, SA, Lipinski), PoseBusters' checks, MMFF strain, MOSES metrics,
the evaluation of any SDF file, published rows."""

from .bond_tables import (
    ALLOWED_VALENCES,
    EDM_VALENCES,
    MIDI_VALENCES,
    allowed_valences,
    typical_length,
)
from .evaluate import evaluate_molecules, score_molecule, score_molecules, summarize_scores
from .published import PUBLISHED_QM9, published_rows, results_table
from .stability import atom_stability, bond_order_matrix, bonds_from_orders, given_bond_orders

__all__ = [
    "ALLOWED_VALENCES",
    "EDM_VALENCES",
    "MIDI_VALENCES",
    "PUBLISHED_QM9",
    "allowed_valences",
    "atom_stability",
    "bond_order_matrix",
    "bonds_from_orders",
    "evaluate_molecules",
    "given_bond_orders",
    "published_rows",
    "results_table",
    "score_molecule",
    "score_molecules",
    "summarize_scores",
    "typical_length",
]
