"""Calibration: real QM9 test molecules through the evaluator give EDM's published data row.

EDM reports 99.0% atom stability, 95.2% molecule stability and 97.7% validity for the QM9 data.
The unit test uses the first 1,000 molecules of EDM's test split (deterministic); the full split
is measured by ``python -m benchmarks.molecules_data`` (figures in the report). The
second test shows the tolerance is tight enough to catch a wrong bond table or margin.
"""

import pytest
from fick.domains.molecules.data import load_qm9_split
from fick.domains.molecules.metrics import PUBLISHED_QM9, bond_tables, evaluate_molecules, stability

DATA_ROW = PUBLISHED_QM9["QM9 data (EDM paper)"]
TOLERANCE = 0.01  # one percentage point


@pytest.fixture(scope="module")
def qm9_test_head():
    ds, _ = load_qm9_split("test", limit=1000)
    return ds.records()


def _edm_metrics(records):
    stability._threshold_tables.cache_clear()
    return evaluate_molecules(records, druglike=False, geometry=False)


def test_real_qm9_gives_the_published_data_row(qm9_test_head):
    m = _edm_metrics(qm9_test_head)
    for key in ("atom_stability", "mol_stability", "validity"):
        assert abs(m[key] - DATA_ROW[key]) <= TOLERANCE, (key, m[key], DATA_ROW[key])
    assert m["uniqueness"] > 0.99 and m["connected"] > 0.99


@pytest.mark.parametrize(
    "table, pair, wrong",
    [
        ("SINGLE_BOND_PM", ("C", "C"), 150),  # 4 pm too short
        ("DOUBLE_BOND_PM", ("C", "N"), 133),
        ("DOUBLE_BOND_PM", ("C", "C"), 138),
    ],
)
def test_a_wrong_table_fails_the_calibration(qm9_test_head, monkeypatch, table, pair, wrong):
    t = getattr(bond_tables, table)
    a, b = pair
    monkeypatch.setitem(t[a], b, wrong)
    monkeypatch.setitem(t[b], a, wrong)
    try:
        m = _edm_metrics(qm9_test_head)
    finally:
        monkeypatch.undo()
        stability._threshold_tables.cache_clear()
    off = [k for k in ("atom_stability", "mol_stability", "validity")
           if abs(m[k] - DATA_ROW[k]) > TOLERANCE]
    assert off, m


def test_a_wrong_margin_fails_the_calibration(qm9_test_head, monkeypatch):
    monkeypatch.setattr(stability, "BOND_MARGINS_PM", (5.0, 5.0, 3.0))
    m = _edm_metrics(qm9_test_head)
    monkeypatch.undo()
    stability._threshold_tables.cache_clear()
    assert abs(m["mol_stability"] - DATA_ROW["mol_stability"]) > TOLERANCE
