"""Graph construction and the molecule <-> state codec, against brute-force enumeration."""

import itertools

import pytest
import torch
from fick.domains.molecules.data.records import make_record
from fick.domains.molecules.model.edges import (
    bond_matrix_to_pairs,
    directed_edges,
    fully_connected_pairs,
)
from fick.domains.molecules.model.state import MoleculeStateCodec, graph_from_counts
from torch_geometric.data import Batch


def _ethanol_like(shift=0.0):
    # C C O H H H H H H with a kekulé-free bond list (single bonds), one charged atom
    pos = torch.randn(9, 3, generator=torch.Generator().manual_seed(1)) + shift
    types = torch.tensor([1, 1, 3, 0, 0, 0, 0, 0, 0])
    charge = torch.tensor([0, 0, -1, 0, 0, 0, 0, 0, 0])
    bonds = torch.tensor([[0, 1, 0, 0, 0, 1, 1], [1, 2, 3, 4, 5, 6, 7]])
    order = torch.tensor([1, 1, 1, 1, 1, 2, 1])
    return make_record(pos, types, charge, bonds, order, y=torch.tensor([1.0, 2.0]))


def test_pairs_match_brute_force():
    counts = [3, 1, 5, 2]
    graph = graph_from_counts(counts)
    expected, start = [], 0
    for g, n in enumerate(counts):
        expected += [(start + i, start + j, g) for i, j in itertools.combinations(range(n), 2)]
        start += n
    got = list(zip(*graph.pair_index.tolist(), graph.pair_batch.tolist()))
    assert got == expected
    edges = directed_edges(graph.pair_index)
    p = graph.pair_index.shape[1]
    assert torch.equal(edges[:, p:], edges[:, :p].flip(0))


def test_bond_orders_of_pairs():
    pair_index, _ = fully_connected_pairs(torch.tensor([0, 0, 0, 0, 1, 1, 1]))
    bonds = torch.tensor([[3, 0, 6], [1, 2, 5]])  # (3,1) given reversed
    orders = bond_matrix_to_pairs(pair_index, bonds, torch.tensor([2, 1, 3]), 7)
    dense = {(int(i), int(j)): int(o) for (i, j), o in zip(pair_index.T, orders)}
    assert dense[(1, 3)] == 2 and dense[(0, 2)] == 1 and dense[(5, 6)] == 3
    assert sum(v > 0 for v in dense.values()) == 3


def test_codec_round_trip():
    recs = [_ethanol_like(), _ethanol_like(5.0)]
    codec = MoleculeStateCodec(["H", "C", "N", "O", "F"], [-1, 0, 1], [1, 2, 3],
                               type_scale=0.5, bond_scale=2.0)
    state, targets, graph = codec.encode(Batch.from_data_list(recs))
    assert set(state) == {"pos", "atom_type", "charge", "bond"}
    assert torch.allclose(state["atom_type"].sum(-1), torch.full((18,), 0.5))
    assert torch.allclose(state["bond"].sum(-1), torch.full((72,), 2.0))
    out = codec.decode(state, graph)
    for rec, back in zip(recs, out):
        assert torch.equal(back.atom_type, rec.atom_type)
        assert torch.equal(back.charge, rec.charge)
        as_set = lambda r: sorted(zip(*r.bond_index.tolist(), r.bond_type.tolist()))  # noqa: E731
        assert as_set(back) == as_set(rec)
        centred = rec.pos - rec.pos.mean(0)
        assert torch.allclose(back.pos, centred, atol=1e-5)


def test_codec_rejects_unknown_charge():
    codec = MoleculeStateCodec(["H", "C"], [0, 1], [1])
    with pytest.raises(ValueError):
        codec.charge_classes(torch.tensor([0, 2]))


def test_neutral_data_has_no_charge_component():
    codec = MoleculeStateCodec(["H", "C"], [0], [1, 2])
    assert codec.components() == ["pos", "atom_type", "bond"]
    assert codec.num_bond_classes == 4
