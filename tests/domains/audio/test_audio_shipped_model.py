"""The shipped spoken-digits model: found by the plugin, self-contained, follows the label."""

import torch
from fick.domains.audio.plugin import AudioPlugin

plugin = AudioPlugin()



def test_shipped_spoken_digits_is_small_self_contained_and_follows_the_label(load_shipped):
    task, folder = load_shipped(plugin, "spoken-digits")
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
