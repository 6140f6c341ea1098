"""The shipped spoken-digits model: found by the plugin, self-contained, says the digit asked for:
its embedded classifier hears it (10 of 10 at 10 and 25 steps; the returned label is the
request copied, so it proves nothing)."""

import torch
from fick.domains.audio.plugin import AudioPlugin

plugin = AudioPlugin()



def test_shipped_spoken_digits_is_small_self_contained_and_follows_the_label(load_shipped):
    task, folder = load_shipped(plugin, "spoken-digits")
    assert (folder / "model.safetensors").stat().st_size < 10 * 2**20
    assert task.autoencoder is not None and task.classifier is not None
    asked = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    clips = task.sample(
        10, steps=10, condition={"label": asked}, generator=torch.Generator().manual_seed(0)
    )
    assert all(c.audio.shape == (16000,) and torch.isfinite(c.audio).all() for c in clips)
    probs, _ = task.classifier.predict(task._log_mels(clips))
    heard = [task.classifier.class_names[int(i)] for i in probs.argmax(1)]
    assert sum(h == a for h, a in zip(heard, asked)) >= 8, heard  # measured: 10 of 10
