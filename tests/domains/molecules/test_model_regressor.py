"""The property regressor: it learns a property, and gradient guidance toward a target moves
each molecule's clean estimate by scale sigma^2 / max(alpha, 0.05) times the gradient of the
predictor's log-likelihood with respect to the noisy state."""

import pytest
import torch
from fick.domains.molecules import plugin
from fick.domains.molecules.data.records import make_record
from fick.domains.molecules.model.config import MoleculeModelConfig, RegressorModelConfig
from fick.domains.molecules.model.sampling import gradient_guided
from fick.domains.molecules.model.state import graph_from_counts
from fick.pipelines.modelio import model_config
from torch_geometric.data import Batch

INFO = {
    "elements": ["H", "C", "N", "O", "F"], "charges": [-1, 0, 1], "bond_types": [1, 2, 3],
    "num_atoms_hist": [0, 1, 1, 1, 1, 1, 1], "properties": ["alpha", "gap"],
    "property_mean": {"alpha": 2.0, "gap": 0.0}, "property_mad": {"alpha": 1.0, "gap": 1.0},
}


def _carbon_counting_set(num=48, seed=0):
    """Molecules whose 'alpha' is their number of carbon atoms (a sum a readout can learn)."""
    g = torch.Generator().manual_seed(seed)
    recs = []
    for _ in range(num):
        n = int(torch.randint(2, 7, (1,), generator=g))
        types = torch.randint(0, 3, (n,), generator=g)
        pos = torch.randn(n, 3, generator=g) * 1.2
        alpha = float((types == 1).sum())
        recs.append(make_record(pos, types, None, None, None, y=torch.tensor([alpha, 0.0])))
    return recs


def test_regressor_learns_a_property():
    torch.manual_seed(0)
    reg = plugin.build_task("regressor", RegressorModelConfig(properties=["alpha"], hidden=32,
                                                              layers=2), INFO, None)
    train = _carbon_counting_set(48, 0)
    held_out = _carbon_counting_set(32, 1)
    before = reg.evaluate(held_out, None)["mae_alpha"]
    opt = torch.optim.Adam(reg.parameters(), lr=3e-3)
    for step in range(150):
        batch = Batch.from_data_list(train[(step * 16) % 48:(step * 16) % 48 + 16])
        loss, logs = reg.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = reg.evaluate(held_out, None)["mae_alpha"]
    assert after < 0.35 * before and after < 0.4, (before, after)
    again = plugin.build_task("regressor", model_config(plugin, "regressor", reg.saved_config()),
                              INFO, None)
    again.load_state_dict(reg.state_dict())
    assert torch.allclose(again.predict_records(held_out), reg.predict_records(held_out))


def test_gradient_guidance_step_on_molecules_of_different_sizes():
    """Molecules of 2, 4 and 3 atoms at their own times (the last with alpha below the 0.05
    floor): every node and pair row moves by its molecule's scale sigma^2 / max(alpha, 0.05)
    times the gradient, computed here by autograd through the model and predictor."""
    torch.manual_seed(0)
    reg = plugin.build_task("regressor", RegressorModelConfig(properties=["alpha"], hidden=16,
                                                              layers=2), INFO, None)
    task = plugin.build_task("diffusion", MoleculeModelConfig(
        hidden=16, edge_hidden=8, message_dim=8, layers=2, condition=["alpha"]), INFO, None)
    task.regressor = reg
    graph = graph_from_counts([2, 4, 3])
    g = torch.Generator().manual_seed(0)
    pairs = graph.pair_index.shape[1]
    x_t = {"pos": torch.randn(9, 3, generator=g), "atom_type": torch.randn(9, 5, generator=g),
           "charge": torch.randn(9, 3, generator=g), "bond": torch.randn(pairs, 4, generator=g)}
    t = torch.tensor([0.3, 0.6, 0.98])  # flow: alpha = 1 - t

    def model(x, tt):
        return task.estimate_from_output(task.denoiser(x, tt, graph))

    target = torch.tensor([[3.0]])
    ours = gradient_guided(task, model, graph, target, 2.0)(x_t, t)
    leaf = {k: v.clone().requires_grad_(True) for k, v in x_t.items()}
    value = reg.guide(["alpha"], target, task.codec, graph)(model(leaf, t)).sum()
    grads = dict(zip(leaf, torch.autograd.grad(value, list(leaf.values()))))
    unguided = model(x_t, t)
    gain = 2.0 * t**2 / (1 - t).clamp_min(0.05)
    for k, grad in grads.items():
        index = graph.pair_batch if k == "bond" else graph.batch
        want = unguided[k] + gain[index, None] * grad
        torch.testing.assert_close(ours[k], want.detach(), atol=1e-5, rtol=1e-5)
        assert grad.abs().max() > 0, k


def test_guided_sampling_runs_and_needs_a_regressor():
    from fick.domains.base import FickError

    task = plugin.build_task("diffusion", MoleculeModelConfig(
        hidden=16, edge_hidden=8, message_dim=8, layers=2, condition=["alpha"]), INFO, None)
    with pytest.raises(FickError):
        task.sample(1, steps=2, condition={"alpha": 3.0}, gradient_guidance=1.0)
    task.regressor = plugin.build_task(
        "regressor", RegressorModelConfig(properties=["alpha"], hidden=16, layers=1), INFO, None)
    out = task.sample(2, steps=3, condition={"alpha": 3.0}, gradient_guidance="1.0", atoms=4)
    assert len(out) == 2 and out[0].num_atoms == 4
    saved = model_config(plugin, "diffusion", task.saved_config())
    again = plugin.build_task("diffusion", saved, INFO, None)
    again.load_state_dict(task.state_dict())  # the regressor's weights travel with the model
