"""train.init_from: weights of a trained model copied into a new (possibly wider) network."""

import pytest
import torch
from fick.domains.base import FickError
from fick.domains.molecules import plugin
from fick.domains.molecules.model.config import MoleculeModelConfig
from fick.pipelines import modelio
from fick.pipelines.warm_start import warm_start

INFO = {
    "elements": ["H", "C", "N", "O", "F"], "charges": [-1, 0, 1], "bond_types": [1, 2, 3],
    "num_atoms_hist": [0, 0, 0, 2, 5, 3, 1], "properties": [], "property_mean": {},
    "property_mad": {},
}
TINY = dict(hidden=16, edge_hidden=8, message_dim=8, layers=2)


def _task(**kw):
    return plugin.build_task("diffusion", MoleculeModelConfig(**{**TINY, **kw}), INFO, None)


def test_matching_weights_are_copied_and_new_inputs_start_at_zero(tmp_path):
    torch.manual_seed(0)
    source = _task()
    folder = modelio.save_model(source, tmp_path / "src", domain="molecules",
                                task_name="diffusion", info=INFO)
    torch.manual_seed(1)
    target = _task(self_condition=True)  # wider first layers: self-conditioning inputs
    counts = warm_start(target, str(folder))
    assert counts["copied"] > 0 and counts["widened"] >= 1
    src, dst = source.state_dict(), target.state_dict()
    for name, value in dst.items():
        if name in src and src[name].shape == value.shape:
            assert torch.equal(value, src[name]), name
    w_src = src["denoiser.backbone.embed.0.weight"]
    w_dst = dst["denoiser.backbone.embed.0.weight"]
    assert torch.equal(w_dst[:, : w_src.shape[1]], w_src)
    assert bool((w_dst[:, w_src.shape[1]:] == 0).all())


def test_a_model_with_nothing_in_common_is_refused(tmp_path):
    source = _task(hidden=24, edge_hidden=12, message_dim=12, layers=1, charges=False,
                   bonds=False)
    folder = modelio.save_model(source, tmp_path / "src", domain="molecules",
                                task_name="diffusion", info=INFO)
    target = _task()
    # a few small tensors (biases of width 1) match by accident: still refused
    with pytest.raises(FickError, match="no weight of that model fits"):
        warm_start(target, str(folder))
