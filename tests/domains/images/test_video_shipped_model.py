"""The shipped moving-digits models: found by the plugin, small, self-contained (the video model
embeds its image and video classifiers). The video classifier classifies real clips; the video
model draws clips with ink in every frame that moves, of the digits asked for: its embedded video
classifier (0.99 on real clips) reads them back (8 of 10 at 10 steps, 10 of 10 at 25; the
returned label is the request copied, so it proves nothing)."""

import numpy as np
import torch
from fick.domains.images.plugin import ImagesPlugin
from fick.domains.images.video.metrics import digit_crops
from fick.domains.images.video.physics import digit_centroids

plugin = ImagesPlugin()



def test_shipped_video_classifier_is_small_and_classifies_real_clips(load_shipped):
    task, folder = load_shipped(plugin, "moving-digits-classifier")
    assert (folder / "model.safetensors").stat().st_size < 5 * 2**20
    from fick.domains.images.video.data import build_video_data

    data = build_video_data(
        "video-classifier", {**task.info["data"], "num_train": 1, "num_val": 64}
    )
    _, logits = task.features_and_logits(data.val.videos())
    assert (logits.argmax(1) == data.val.labels).float().mean() >= 0.9


def test_shipped_moving_digits_is_small_self_contained_and_draws_moving_clips(load_shipped):
    task, folder = load_shipped(plugin, "moving-digits")
    assert (folder / "model.safetensors").stat().st_size < 10 * 2**20
    assert task.metrics_classifier is not None and task.video_classifier is not None
    asked = [str(d) for d in range(10)]
    clips = task.sample(
        10, steps=10, condition={"label": asked}, generator=torch.Generator().manual_seed(0)
    )
    videos = torch.stack([c.frames for c in clips])  # (N, T, C, H, W)
    assert videos.shape == (10, 16, 1, 32, 32) and torch.isfinite(videos).all()
    _, logits = task.video_classifier.features_and_logits(videos.transpose(1, 2))
    names = task.info["class_names"]
    read = [names[int(i)] for i in logits.argmax(1)]
    assert sum(r == a for r, a in zip(read, asked)) >= 7, read  # measured: 8 of 10
    grey = ((videos.mean(2) + 1) / 2).numpy()
    assert (grey.max(axis=(2, 3)) > 0.5).all()  # ink in every frame
    centres = digit_centroids(grey, 1)[:, :, 0]  # (N, T, 2)
    path = np.linalg.norm(np.diff(centres, axis=1), axis=-1).sum(1)
    assert np.isfinite(centres).all() and (path > 2.0).all()  # the digit moves
    crops = digit_crops(grey, digit_centroids(grey, 1), 14, 16)
    assert crops.shape == (10 * 16, 1, 16, 16)
