"""EDM's reference rows of the property benchmark (benchmarks/molecules_property.py) on a
dataset where the property is a known function of the atom count."""

import torch
from fick.domains.molecules import plugin
from fick.domains.molecules.data.records import MoleculeDataset, make_record
from fick.domains.molecules.model.config import RegressorModelConfig

from benchmarks.molecules_property import atom_count_guess, draw_targets, reference_rows

INFO = {
    "elements": ["H", "C", "N", "O", "F"], "charges": [-1, 0, 1], "bond_types": [1, 2, 3],
    "num_atoms_hist": [0, 1, 1, 1, 1, 1, 1], "properties": ["alpha", "gap"],
    "property_mean": {"alpha": 2.0, "gap": 0.0}, "property_mad": {"alpha": 1.0, "gap": 1.0},
}  # fmt: skip


def _dataset():
    """30 molecules of 3 to 5 atoms whose alpha is 10 x their atom count."""
    g = torch.Generator().manual_seed(0)
    recs = []
    for i in range(30):
        n = 3 + i % 3
        types = torch.randint(0, 3, (n,), generator=g)
        recs.append(make_record(torch.randn(n, 3, generator=g), types, None, None, None,
                                y=torch.tensor([float(n) * 10, float(i)])))
    return MoleculeDataset(recs, elements=INFO["elements"], properties=INFO["properties"])


def test_edm_reference_rows_on_drawn_molecules():
    ds = _dataset()
    idx, counts, targets = draw_targets(ds, 50, ["alpha"], seed=0)
    assert targets[:, 0].tolist() == [10.0 * c for c in counts]  # drawn jointly
    # alpha is 10 x the atom count here, so the atom-count guess is exact
    assert torch.equal(atom_count_guess(ds, ["alpha"], counts), targets)
    torch.manual_seed(1)
    regressor = plugin.build_task(
        "regressor", RegressorModelConfig(properties=["gap", "alpha"], hidden=16, layers=1),
        INFO, None)
    rows = reference_rows(regressor, ds, idx, counts, targets, ["alpha"], seed=0)
    assert rows["#atoms"]["alpha"] == 0.0
    assert rows["random targets (upper bound)"]["alpha"] > 0
    assert set(rows) == {"random targets (upper bound)", "#atoms", "QM9 molecules (lower bound)"}
    # the lower bound is the predictor's error on the very molecules the targets came from
    pred = regressor.predict_records(ds.subset(idx).records())[:, 1].double()
    want = float((pred - targets[:, 0]).abs().mean())
    assert abs(rows["QM9 molecules (lower bound)"]["alpha"] - want) < 1e-9
