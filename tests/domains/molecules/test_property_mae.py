"""Property-conditional sampling with one target per molecule and EDM's property MAE."""

import pytest
import torch
from fick.domains.base import FickError
from fick.domains.molecules import plugin
from fick.domains.molecules.model.config import MoleculeModelConfig, RegressorModelConfig

INFO = {
    "elements": ["H", "C", "N", "O", "F"], "charges": [-1, 0, 1], "bond_types": [1, 2, 3],
    "num_atoms_hist": [0, 1, 1, 1, 1, 1, 1], "properties": ["alpha", "gap"],
    "property_mean": {"alpha": 2.0, "gap": 0.0}, "property_mad": {"alpha": 1.0, "gap": 1.0},
}




def _generator():
    torch.manual_seed(0)
    return plugin.build_task("diffusion", MoleculeModelConfig(
        hidden=16, edge_hidden=8, message_dim=8, layers=2, condition=["alpha"]), INFO, None)


def _regressor():
    torch.manual_seed(1)
    return plugin.build_task(
        "regressor", RegressorModelConfig(properties=["gap", "alpha"], hidden=16, layers=1),
        INFO, None)


def test_each_molecule_gets_its_own_target():
    task = _generator()
    seen = []
    task.denoiser.register_forward_pre_hook(lambda module, args: seen.append(args[3].clone()))
    alphas = [1.0, 2.0, 3.0, 4.0, 5.0]
    out = task.sample(5, steps=2, condition={"alpha": alphas}, atoms=[3, 4, 5, 3, 4],
                      batch_size=2)
    assert [r.num_atoms for r in out] == [3, 4, 5, 3, 4]
    assert [float(r.target) for r in out] == alphas
    # batches of 2, 2 and 1 molecules, each row normalised (mean 2, MAD 1) in order
    firsts = [seen[0], seen[2], seen[4]]
    assert [c.flatten().tolist() for c in firsts] == [[-1.0, 0.0], [1.0, 2.0], [3.0]]


def test_a_target_list_of_the_wrong_length_is_an_error():
    with pytest.raises(FickError, match="one value per molecule"):
        _generator().sample(3, steps=1, condition={"alpha": [1.0, 2.0]}, atoms=3)


def test_property_mae_compares_the_predictor_with_each_target():
    task = _generator()
    out = task.sample(4, steps=2, condition={"alpha": [1.0, 2.0, 3.0, 4.0]}, atoms=4)
    assert task.property_mae(out) == {}  # no predictor: nothing to report
    task.regressor = _regressor()
    pred = task.regressor.predict_records(out)[:, 1]  # the predictor's column of alpha
    want = float((pred - torch.tensor([1.0, 2.0, 3.0, 4.0])).abs().mean())
    got = task.evaluate(out, None)["property_mae_alpha"]
    assert got == pytest.approx(want, rel=1e-6)
