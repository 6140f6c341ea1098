"""E(3) x S_n symmetry of the molecule networks, with the shared ``assert_equivariant`` helper."""

import pytest
import torch
from fick.domains.molecules.model.config import MoleculeModelConfig, RegressorModelConfig
from fick.domains.molecules.model.denoiser import MoleculeDenoiser
from fick.domains.molecules.model.egnn import EGNN
from fick.domains.molecules.model.regressor import PropertyRegressor
from fick.domains.molecules.model.state import MoleculeStateCodec
from fick.domains.molecules.model.testing import assert_equivariant

INFO = {
    "elements": ["H", "C", "N", "O", "F"], "charges": [-1, 0, 1], "bond_types": [1, 2, 3],
    "num_atoms_hist": [0, 0, 1, 1, 1, 1], "properties": ["alpha", "gap"],
    "property_mean": {"alpha": 75.0, "gap": 6800.0}, "property_mad": {"alpha": 6.3, "gap": 1000.0},
}
DTYPES = [torch.float32, torch.float64]
TRANSFORMS = [dict(reflection=False), dict(reflection=True)]


def _molecules(dtype, counts=(4, 7, 2), seed=0):
    g = torch.Generator().manual_seed(seed)
    batch = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    pos = (torch.randn(len(batch), 3, generator=g, dtype=torch.float64) * 1.5).to(dtype)
    return pos, batch, g


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", TRANSFORMS)
@pytest.mark.parametrize("cutoff", [None, 3.0])
def test_egnn_backbone(dtype, kw, cutoff):
    torch.manual_seed(0)
    net = EGNN(6, 4, hidden=16, edge_hidden=8, message_dim=12, layers=3, cutoff=cutoff).to(dtype)
    pos, batch, g = _molecules(dtype)
    node = torch.randn(len(batch), 6, generator=g, dtype=torch.float64).to(dtype)
    num_pairs = (4 * 3 + 7 * 6 + 2) // 2
    pair = torch.randn(num_pairs, 4, generator=g, dtype=torch.float64).to(dtype)

    def fn(p, n, e, graph):
        h, x, pair_out = net(n, p, e, graph.pair_index)
        return x, h, pair_out

    assert_equivariant(fn, pos, node, pair, batch, generator=g, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", TRANSFORMS)
@pytest.mark.parametrize("network", ["egnn", "e3nn"])
def test_denoiser(dtype, kw, network):
    """Positions equivariant; type, charge and bond logits invariant (self-conditioning and a
    property condition on, so every input path is covered)."""
    torch.manual_seed(0)
    cfg = MoleculeModelConfig(network=network, hidden=16, edge_hidden=8, message_dim=12,
                              layers=2, self_condition=True, condition=["alpha"])
    codec = MoleculeStateCodec(INFO["elements"], INFO["charges"], INFO["bond_types"])
    net = MoleculeDenoiser(codec, cfg, 1).to(dtype)
    pos, batch, g = _molecules(dtype)
    n = len(batch)
    node = torch.randn(n, 5 + 3 + 5 + 3, generator=g, dtype=torch.float64).to(dtype)
    level = torch.rand(3, generator=g, dtype=torch.float64).to(dtype)
    cond = torch.randn(3, 1, generator=g, dtype=torch.float64).to(dtype)
    keep = torch.tensor([True, False, True])

    def fn(p, nodes, pairs, graph):
        x_t = {"pos": p, "atom_type": nodes[:, :5], "charge": nodes[:, 5:8], "bond": pairs[:, :4]}
        sc = {"pos": p * 0.9, "atom_type": nodes[:, 8:13], "charge": nodes[:, 13:16],
              "bond": pairs[:, 4:]}
        out = net(x_t, level, graph, cond, keep, sc)
        return out["pos"], torch.cat([out["atom_type"], out["charge"]], -1), out["bond"]

    num_pairs = (4 * 3 + 7 * 6 + 2) // 2
    pair = torch.randn(num_pairs, 8, generator=g, dtype=torch.float64).to(dtype)
    assert_equivariant(fn, pos, node, pair, batch, generator=g, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
def test_regressor_invariant(dtype):
    torch.manual_seed(0)
    reg = PropertyRegressor(RegressorModelConfig(properties=["alpha", "gap"], hidden=16,
                                                 layers=2), INFO).to(dtype)
    pos, batch, g = _molecules(dtype)
    node = torch.randn(len(batch), 8, generator=g, dtype=torch.float64).to(dtype)

    def fn(p, nodes, pairs, graph):
        y = reg(p, nodes[:, :5], nodes[:, 5:], graph)
        return None, y[graph.batch], None  # a per-molecule output, checked on its atoms

    assert_equivariant(fn, pos, node, None, batch, generator=g, reflection=True)


def test_helper_catches_broken_symmetry():
    """The helper must fail on functions that break each symmetry."""
    pos, batch, g = _molecules(torch.float64)
    node = torch.randn(len(batch), 3, dtype=torch.float64)

    def not_rotation(p, n, e, graph):
        return p + torch.tensor([1.0, 0.0, 0.0], dtype=p.dtype), None, None

    def not_invariant(p, n, e, graph):
        return None, p[:, :1], None

    def not_permutation(p, n, e, graph):
        return None, n + torch.arange(len(n), dtype=n.dtype).unsqueeze(-1), None

    for fn in (not_rotation, not_invariant):
        with pytest.raises(AssertionError):
            assert_equivariant(fn, pos, node, None, batch, generator=g)
    with pytest.raises(AssertionError):
        assert_equivariant(not_permutation, pos, node, None, batch, generator=g,
                           reflection=False, translation=False)
