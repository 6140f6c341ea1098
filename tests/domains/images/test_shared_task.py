"""The shared diffusion task (fick.domains.diffusion) as the image task uses it: the latent
scale is 1 / std of the first training batch's latents and then fixed, an untrained latent model
refuses to encode or decode, condition dropout is off outside training, companions stay frozen
in eval mode, and the network reads the process time through the core's denoiser."""

from __future__ import annotations

import pytest
import torch
from fick.core.denoiser import CONTINUOUS_TIME_SCALE
from fick.domains.base import FickError
from fick.domains.images.plugin import ImagesPlugin

INFO = {"image_size": 8, "channels": 1, "num_classes": 3, "class_names": ["a", "b", "c"]}
TINY = {"width": 16, "depth": 1, "heads": 2, "patch_size": 2}


def _latent_task():
    torch.manual_seed(0)
    vae = ImagesPlugin().build_task(
        "autoencoder", {"width": 8, "latent_channels": 2, "downsample": 2}, INFO, None
    )
    cfg = {**TINY, "vae": "vae", "class_dropout": 0.5}
    return ImagesPlugin().build_task("diffusion", cfg, INFO, {"vae": vae}.__getitem__), vae


def test_the_latent_scale_is_measured_once_on_the_first_training_batch():
    task, vae = _latent_task()
    first = torch.rand(6, 1, 8, 8) * 2 - 1
    task.train()
    task.loss((first, torch.tensor([0, 1, 2, 0, 1, 2])))
    expected = 1.0 / float(vae.vae.encode(first)[0].float().std())
    assert float(task.latent_scale) == pytest.approx(expected, rel=1e-6)
    task.loss((first * 0.1, torch.zeros(6, dtype=torch.long)))  # another batch: unchanged
    assert float(task.latent_scale) == pytest.approx(expected, rel=1e-6)
    z = task.encode(first)
    torch.testing.assert_close(z.std(), torch.tensor(1.0), rtol=1e-5, atol=0)


def test_an_untrained_latent_model_refuses_to_encode_and_decode():
    task, _ = _latent_task()
    task.eval()
    with pytest.raises(FickError, match="never trained"):
        task.encode(torch.zeros(1, 1, 8, 8))
    with pytest.raises(FickError, match="never trained"):
        task.sample(1, steps=1)


def test_condition_dropout_only_in_training_and_companions_stay_in_eval_mode():
    task, _ = _latent_task()
    torch.manual_seed(0)
    task.train()
    assert bool(task.condition_dropout(2000, "cpu").float().mean().sub(0.5).abs() < 0.05)
    assert not task.autoencoder.training and task.net.training
    task.eval()
    assert not bool(task.condition_dropout(2000, "cpu").any())


@pytest.mark.parametrize(("process", "scale"), [("cosine", 1.0), ("flow", CONTINUOUS_TIME_SCALE)])
def test_the_network_receives_the_process_time_scaled_by_the_denoiser(process, scale):
    cfg = {**TINY, "process": process, "prediction": "velocity" if process == "flow" else "v"}
    task = ImagesPlugin().build_task("diffusion", cfg, INFO, None)
    seen = []
    forward = task.net.forward
    task.net.forward = lambda x, t, *a, **k: seen.append(t.clone()) or forward(x, t, *a, **k)
    t = torch.tensor([0.25, 0.5])
    task(torch.zeros(2, 1, 8, 8), t, labels=torch.tensor([0, 1]))
    torch.testing.assert_close(seen[0], t * scale)


def test_model_sampler_options_go_to_the_default_sampler_only(monkeypatch):
    """``model.sampler_options`` reach fick.core.sample with the model's own sampler, an
    explicit option overrides them, and another sampler gets none of them."""
    import fick.core

    seen = []
    monkeypatch.setattr(fick.core, "sample",
                        lambda model, noise, **kw: seen.append((kw["sampler"], kw.get("eta")))
                        or noise)
    cfg = {**TINY, "sampler": "ddim", "sampler_options": {"eta": 0.7}, "steps": 2}
    task = ImagesPlugin().build_task("diffusion", cfg, INFO, None).eval()
    task.sample_states({}, 1)
    task.sample_states({}, 1, eta=0.2)
    task.sample_states({}, 1, sampler="ddpm")
    assert seen == [("ddim", 0.7), ("ddim", 0.2), ("ddpm", None)]
