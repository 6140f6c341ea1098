"""QM9 from qm9pack: the characterized set, EDM's split, the record format, bond perception."""

import math

import numpy as np
import pytest
import torch
from fick.domains.molecules.data import (
    QM9_ELEMENTS,
    QM9_PROPERTIES,
    MoleculeDataset,
    PackedMolecules,
    edm_split,
    load_qm9_split,
)
from fick.domains.molecules.data.qm9 import HARTREE_TO_MEV, read_qm9_table
from torch_geometric.data import Batch

# EDM's node-count histogram of its QM9 (with H) training split, as published in its dataset
# config (n_nodes of qm9_with_h): an independent check of the split and of the characterized set.
EDM_TRAIN_NODE_COUNTS = {
    22: 3393, 17: 13025, 23: 4848, 21: 9970, 19: 13832, 20: 9482, 16: 10644, 13: 3060,
    15: 7796, 25: 1506, 18: 13364, 12: 1689, 11: 807, 24: 539, 14: 5136, 27: 266, 7: 16,
    10: 362, 26: 48, 9: 124, 8: 49, 29: 25, 6: 9, 5: 5, 3: 1, 4: 4,
}


@pytest.fixture(scope="module")
def table():
    return read_qm9_table()


@pytest.fixture(scope="module")
def test_head():
    ds, perception = load_qm9_split("test", limit=300)
    return ds, perception


def test_table_holds_the_130831_characterized_molecules(table):
    assert len(table) == 130_831
    idx = table["Index"].to_numpy()
    assert np.all(np.diff(idx) > 0)  # sorted by QM9 index, no duplicates
    assert idx.min() == 1 and idx.max() == 133_885
    assert 133_885 - len(idx) == 3_054  # exactly the uncharacterized ones are missing


def test_edm_split_sizes_and_seed0_permutation():
    split = edm_split()
    assert {k: len(v) for k, v in split.items()} == {"train": 100_000, "valid": 17_748,
                                                     "test": 13_083}
    everything = np.concatenate([split["train"], split["valid"], split["test"]])
    assert np.array_equal(np.sort(everything), np.arange(130_831))
    state = np.random.get_state()
    np.random.seed(0)  # the anchors' recipe, on numpy's global generator
    perm = np.random.permutation(130_831)
    np.random.set_state(state)
    assert np.array_equal(split["train"], perm[:100_000])
    assert np.array_equal(split["test"], perm[-13_083:])


def test_train_split_node_counts_match_edm(table):
    counts = table["N_atoms"].to_numpy()[edm_split()["train"]]
    values, freq = np.unique(counts, return_counts=True)
    assert dict(zip(values.tolist(), freq.tolist())) == EDM_TRAIN_NODE_COUNTS


def test_record_format(test_head, table):
    ds, _ = test_head
    rec = ds[0]
    n = rec.num_atoms
    assert rec.pos.shape == (n, 3) and rec.pos.dtype == torch.float32
    assert rec.atom_type.dtype == torch.long and rec.atom_type.shape == (n,)
    assert rec.charge.dtype == torch.long and rec.charge.shape == (n,)
    assert rec.bond_index.shape[0] == 2 and rec.bond_index.dtype == torch.long
    assert bool((rec.bond_index[0] < rec.bond_index[1]).all())
    assert set(rec.bond_type.tolist()) <= {1, 2, 3}  # kekulized
    assert rec.y.shape == (1, len(QM9_PROPERTIES)) and rec.y.dtype == torch.float32
    row = table.set_index("Index").loc[rec.index]
    assert rec.smiles == row["SMILES"]
    raw = np.array(row["XYZ_Ang"].replace("[", "").replace("]", "").split(","), float)
    assert torch.allclose(rec.pos.double(), torch.tensor(raw).reshape(-1, 3), atol=1e-6)
    symbols = [QM9_ELEMENTS[t] for t in rec.atom_type.tolist()]
    assert symbols == [s.strip("'") for s in row["Elements"].strip("[]").split(",")]
    y = dict(zip(QM9_PROPERTIES, rec.y[0].double().tolist()))
    assert math.isclose(y["alpha"], row["Polarizability_bohr3"], rel_tol=1e-6)
    assert math.isclose(y["gap"], row["HOMO_LUMO_gap_au"] * HARTREE_TO_MEV, rel_tol=1e-6)
    assert math.isclose(y["homo"], row["HOMO_au"] * 27211.386, rel_tol=1e-6)
    # the gap is LUMO - HOMO (to the CSV's 4 decimals in hartree)
    assert abs(y["gap"] - (y["lumo"] - y["homo"])) < 1e-3 * HARTREE_TO_MEV


def test_perceived_bonds_agree_with_dataset_smiles(test_head):
    _, perception = test_head
    assert perception["num_molecules"] == 300
    assert perception["smiles_agreement"] > 0.99


def test_strained_cage_is_perceived_neutral(table):
    # bicyclo[1.1.1]pentane: covalent radii bond the bridgeheads (1.9 A apart), which RDKit's
    # connect-the-dots can only satisfy with formal charges; the Hueckel retry gets it right
    from fick.domains.molecules.data.perception import canonical_smiles, perceive_bonds
    from fick.domains.molecules.data.qm9 import _parse_row

    row = table[table["SMILES"] == "N#CC12CC(C1)C2"].iloc[0]
    symbols, pos = _parse_row(row["Elements"], row["XYZ_Ang"])
    mol, method = perceive_bonds(symbols, pos)
    assert method == "hueckel"
    assert all(a.GetFormalCharge() == 0 for a in mol.GetAtoms())
    assert canonical_smiles(mol) == "N#CC12CC(C1)C2"


def test_collate_batches_with_pyg(test_head):
    ds, _ = test_head
    batch = ds.collate([ds[i] for i in range(5)])
    assert isinstance(batch, Batch) and batch.num_graphs == 5
    sizes = [ds[i].num_atoms for i in range(5)]
    assert torch.equal(torch.bincount(batch.batch), torch.tensor(sizes))
    # bond indices are shifted into the batch's atom numbering
    assert int(batch.bond_index.max()) < sum(sizes)
    assert batch.y.shape == (5, len(QM9_PROPERTIES))


def test_packed_cache_round_trip_loads_with_weights_only(test_head, tmp_path):
    ds, _ = test_head
    packed = PackedMolecules.from_records(ds.records()[:50])
    packed.save(tmp_path / "x.pt", {"note": "hi"})
    back, extra = PackedMolecules.load(tmp_path / "x.pt")
    assert extra == {"note": "hi"}
    again = MoleculeDataset(back, elements=QM9_ELEMENTS, properties=QM9_PROPERTIES)
    for a, b in zip(ds.records()[:50], again.records()):
        assert torch.equal(a.pos, b.pos) and torch.equal(a.bond_index, b.bond_index)
        assert a.smiles == b.smiles and a.index == b.index


def test_info_is_json_and_describes_the_data(test_head):
    import json

    ds, _ = test_head
    info = ds.info({"alpha": "bohr^3"})
    json.dumps(info)
    assert info["elements"] == QM9_ELEMENTS
    assert sum(info["num_atoms_hist"]) == len(ds)
    assert info["max_atoms"] == int(ds.num_atoms().max())
    alpha = ds.property_matrix()[:, 0].double()
    assert math.isclose(info["property_mean"]["alpha"], float(alpha.mean()), rel_tol=1e-9)
    assert math.isclose(info["property_mad"]["alpha"],
                        float((alpha - alpha.mean()).abs().mean()), rel_tol=1e-9)
