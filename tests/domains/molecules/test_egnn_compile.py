"""model.compile: the compiled EGNN computes what the eager one does, and a deep copy (the EMA
weights) runs its own weights, not the original's."""

import copy

import torch
from fick.domains.molecules.model.egnn import EGNN
from fick.domains.molecules.model.state import graph_from_counts


def test_compiled_egnn_matches_eager_and_deep_copies_use_their_own_weights():
    torch.manual_seed(0)
    eager = EGNN(6, 4, hidden=16, edge_hidden=8, message_dim=8, layers=1)
    compiled = copy.deepcopy(eager)
    compiled.compile = True
    graph = graph_from_counts([5, 3])
    h = torch.randn(8, 6)
    pos = torch.randn(8, 3)
    pair = torch.randn(graph.pair_index.shape[1], 4)
    want = eager(h, pos, pair, graph.pair_index)
    got = compiled(h, pos, pair, graph.pair_index)
    assert compiled.compile, "compilation fell back to eager"
    for a, b in zip(want, got):
        assert torch.allclose(a, b, atol=1e-5)
    # gradients flow through the compiled layers
    got[1].sum().backward()
    assert compiled.layers[0].coord.weight.grad is not None

    twin = copy.deepcopy(compiled)
    assert twin._compiled == {} and twin.compile
    with torch.no_grad():
        for p in twin.parameters():
            p.mul_(0.5)
    out_twin = twin(h, pos, pair, graph.pair_index)
    out_orig = compiled(h, pos, pair, graph.pair_index)
    assert not torch.allclose(out_twin[0], out_orig[0])
    expect = copy.deepcopy(eager)
    with torch.no_grad():
        for p in expect.parameters():
            p.mul_(0.5)
    assert torch.allclose(out_twin[0], expect(h, pos, pair, graph.pair_index)[0], atol=1e-5)
