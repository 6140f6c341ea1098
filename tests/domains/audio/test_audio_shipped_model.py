"""The shipped spoken-digits model: found by the plugin, self-contained, follows the label."""

import pytest
import torch
import yaml
from fick.domains.audio.plugin import AudioPlugin
from safetensors.torch import load_model

plugin = AudioPlugin()


def _shipped(name: str):
    folder = plugin.pretrained().get(name)
    if folder is None:
        pytest.skip(f"no shipped {name!r} model in this checkout")
    manifest = yaml.safe_load((folder / "fick.yaml").read_text())
    # No resolver: the VAE and the metric classifier must be embedded in the saved model.
    task = plugin.build_task(manifest["task"], manifest["config"], manifest["info"], None)
    load_model(task, str(folder / "model.safetensors"), strict=True)
    return task.eval(), folder


def test_shipped_spoken_digits_is_small_self_contained_and_follows_the_label():
    task, folder = _shipped("spoken-digits")
    assert (folder / "model.safetensors").stat().st_size < 10 * 2**20
    assert task.autoencoder is not None and task.classifier is not None
    clips = task.sample(
        10, steps=25, condition={"label": 7}, generator=torch.Generator().manual_seed(0)
    )
    assert [c.label for c in clips] == ["seven"] * 10
    assert all(c.audio.shape == (16000,) and torch.isfinite(c.audio).all() for c in clips)
    probs, _ = task.classifier.predict(task._log_mels(clips))
    predicted = [task.classifier.class_names[int(i)] for i in probs.argmax(1)]
    assert predicted.count("seven") >= 8
