"""The QM9 method techniques: masking discrete flow for the categorical components, fake
atoms, OT alignment of noise to data, geometry distortion (issue: beat EDM at <= 50 steps)."""

import pytest
import torch
from fick.domains.molecules.model.alignment import ot_align, pairing_cost
from fick.domains.molecules.model.config import MoleculeModelConfig
from fick.domains.molecules.model.denoiser import MoleculeDenoiser, zero_com
from fick.domains.molecules.model.fake_atoms import FakeAtoms
from fick.domains.molecules.model.state import MoleculeStateCodec, graph_from_counts
from fick.domains.molecules.model.testing import assert_equivariant
from test_task import INFO, _molecule, _Oracle, _same_molecule, _task
from torch_geometric.data import Batch


@pytest.mark.parametrize("sampler,steps", [("ddpm", 6), ("flow-euler", 4)])
def test_masked_categoricals_reach_the_predicted_molecule(sampler, steps):
    """The masking CTMC beside the continuous sampler: a constant, confident clean estimate
    is reached exactly (types, charges and bonds drawn from near one-hot probabilities)."""
    task = _task(categorical="mask")
    target = _molecule()
    task.denoiser = _Oracle(task, target)
    out = task.sample(3, steps=steps, sampler=sampler, atoms=5,
                      generator=torch.Generator().manual_seed(0))
    for rec in out:
        _same_molecule(rec, target)


def test_masked_training_inputs_and_oracle_loss():
    task = _task(categorical="mask", self_condition=True)
    record = _molecule(5, 0)
    oracle = _task(categorical="mask")
    oracle.denoiser = _Oracle(oracle, record)
    loss, _ = oracle.loss(Batch.from_data_list([record] * 2))
    assert loss.item() < 1e-6
    spec = task.spec(graph_from_counts([5]))
    space = spec.space("atom_type")
    x = space.corrupt(torch.tensor([0, 1, 2, 3, 4]), torch.tensor(1.0))
    assert x.shape == (5, 6) and bool((x[:, -1] == 1).all())  # level 1: all masked
    loss, logs = task.loss(Batch.from_data_list([record, _molecule(4, 1)]))
    assert torch.isfinite(loss) and logs["loss_bond"] > 0


def test_masked_scaffold_atoms_come_out_exactly():
    task = _task(categorical="mask").eval()
    scaffold = _molecule(3, seed=4)
    out = task.sample(4, steps=5, atoms=6, fix=scaffold, sampler="ddpm",
                      generator=torch.Generator().manual_seed(1))
    for rec in out:
        assert torch.equal(rec.pos[:3], scaffold.pos)
        assert torch.equal(rec.atom_type[:3], scaffold.atom_type)
        assert torch.equal(rec.charge[:3], scaffold.charge)
        inner = [(i, j, o) for (i, j), o in zip(rec.bond_index.T.tolist(), rec.bond_type.tolist())
                 if i < 3 and j < 3]
        assert inner == sorted(zip(*scaffold.bond_index.tolist(), scaffold.bond_type.tolist()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_masked_self_conditioned_denoiser_is_equivariant(dtype):
    torch.manual_seed(0)
    cfg = MoleculeModelConfig(hidden=16, edge_hidden=8, message_dim=12, layers=2,
                              self_condition=True, categorical="mask", fake_atoms=0.2)
    codec = MoleculeStateCodec(INFO["elements"], INFO["charges"], INFO["bond_types"],
                               masked=True, fake_atoms=True)
    net = MoleculeDenoiser(codec, cfg, 0).to(dtype)
    counts = (4, 7, 2)
    batch = torch.repeat_interleave(torch.arange(3), torch.tensor(counts))
    g = torch.Generator().manual_seed(0)
    pos = (torch.randn(len(batch), 3, generator=g, dtype=torch.float64) * 1.5).to(dtype)
    # noisy one-hots with their mask columns (5 elements + fake + mask = 7 types, 3 + 1
    # charges, 4 + 1 bond orders), then self-conditioning probabilities without them
    node = torch.randn(len(batch), 7 + 4 + 6 + 3, generator=g, dtype=torch.float64).to(dtype)
    pair = torch.randn((4 * 3 + 7 * 6 + 2) // 2, 5 + 4, generator=g,
                       dtype=torch.float64).to(dtype)
    level = torch.rand(3, generator=g, dtype=torch.float64).to(dtype)

    def fn(p, nodes, pairs, graph):
        x_t = {"pos": p, "atom_type": nodes[:, :7], "charge": nodes[:, 7:11],
               "bond": pairs[:, :5]}
        sc = {"pos": p * 0.9, "atom_type": nodes[:, 11:17], "charge": nodes[:, 17:],
              "bond": pairs[:, 5:]}
        out = net(x_t, level, graph, None, None, sc)
        return out["pos"], torch.cat([out["atom_type"], out["charge"]], -1), out["bond"]

    assert_equivariant(fn, pos, node, pair, batch, generator=g, reflection=True)


def test_fake_atoms_are_added_in_training_and_removed_on_export(tmp_path):
    rule = FakeAtoms(0.5, spread=0.5)
    a, b = _molecule(4, 0), _molecule(6, 1)
    batch = Batch.from_data_list([a, b])
    aug = rule.augment(batch, fake_type=5)
    assert aug.atom_type.tolist()[:6] == a.atom_type.tolist() + [5, 5]
    assert aug.atom_type.tolist()[6:] == b.atom_type.tolist() + [5, 5, 5]
    assert torch.equal(aug.pos[:4], a.pos) and torch.equal(aug.pos[6:12], b.pos)
    # bonds keep their atoms (b's atoms moved by a's two fake atoms)
    assert aug.bond_index[:, : a.bond_type.numel()].tolist() == a.bond_index.tolist()
    assert (aug.bond_index[:, a.bond_type.numel():] - 6).tolist() == b.bond_index.tolist()

    task = _task(fake_atoms=0.5)
    assert task.codec.num_classes("atom_type") == 6
    # a decoded state whose atoms 1 and 3 are fake: they and their bonds are gone
    graph = graph_from_counts([5])
    types = torch.tensor([1, 5, 0, 5, 3])
    state = {"pos": torch.arange(15.0).reshape(5, 3),
             "atom_type": task.codec.one_hot("atom_type", types),
             "charge": task.codec.one_hot("charge", torch.ones(5, dtype=torch.long))}
    orders = torch.zeros(graph.pair_index.shape[1], dtype=torch.long)
    orders[0] = 1  # pair (0, 1): touches a fake atom
    orders[1] = 2  # pair (0, 2)
    orders[9] = 1  # pair (3, 4): touches a fake atom
    state["bond"] = task.codec.one_hot("bond", orders)
    (rec,) = task.codec.decode(state, graph)
    assert rec.atom_type.tolist() == [1, 0, 3]
    assert rec.bond_index.tolist() == [[0], [1]] and rec.bond_type.tolist() == [2]
    assert torch.equal(rec.pos, state["pos"][[0, 2, 4]])
    files = task.export([rec], tmp_path)
    sdf = next(p for p in files if p.suffix == ".sdf").read_text()
    assert "*" not in sdf


def test_fake_atom_totals():
    rule = FakeAtoms(0.5)
    # n = 2 -> 3 atoms (round(1.0)), n = 3 -> 5 atoms (round(1.5) = 2)
    assert rule.total_hist([0, 0, 3, 1]) == [0, 0, 0, 3, 0, 1]


@pytest.mark.parametrize("seed", range(3))
def test_ot_alignment_never_costs_more_than_the_identity_pairing(seed):
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(1, 20, (16,), generator=g)
    batch = torch.repeat_interleave(torch.arange(16), counts)
    data = zero_com(torch.randn(len(batch), 3, generator=g) * 1.5, batch, 16)
    noise = zero_com(torch.randn(len(batch), 3, generator=g), batch, 16)
    aligned = ot_align(noise, data, batch, 16)
    before, after = pairing_cost(noise, data, batch, 16), pairing_cost(aligned, data, batch, 16)
    assert bool((after <= before + 1e-4).all()) and after.sum() < 0.6 * before.sum()
    # the same points, re-ordered and rotated within each molecule (a rigid motion of the
    # noise: same radii, same zero centre)
    assert torch.allclose(zero_com(aligned, batch, 16), aligned, atol=1e-5)
    for m in range(16):
        rows = batch == m
        r0 = noise[rows].norm(dim=-1).sort().values
        r1 = aligned[rows].norm(dim=-1).sort().values
        assert torch.allclose(r0, r1, atol=1e-4)


def test_distortion_and_ot_training_run():
    batch = Batch.from_data_list([_molecule(5, 0), _molecule(4, 1)])
    for kw in (dict(distortion=0.3, distortion_prob=1.0), dict(ot_align=True),
               dict(fake_atoms=0.3, categorical="mask", self_condition=True)):
        loss, _ = _task(**kw).loss(batch)
        assert torch.isfinite(loss)
