"""Moving digits (the Moving MNIST recipe), the physics metric, users' clips, the data command."""

import csv
import warnings

import numpy as np
import pytest
import torch
from fick.domains.base import FickError
from fick.domains.images.video import (
    VideoDataConfig,
    build_video_data,
    moving_digits,
    write_moving_digits,
)
from fick.domains.images.video.clips import read_clip_folder
from fick.domains.images.video.moving_digits import digit_sprites, fold, render_clip
from fick.domains.images.video.physics import motion_physics_error


@pytest.mark.parametrize("num_digits", [1, 2])
def test_moving_digits_is_deterministic_for_a_seed(num_digits):
    a = moving_digits(6, seed=3, num_digits=num_digits)
    b = moving_digits(6, seed=3, num_digits=num_digits)
    c = moving_digits(6, seed=4, num_digits=num_digits)
    assert a.videos.shape == (6, 16, 32, 32) and a.labels.shape == (6, num_digits)
    np.testing.assert_array_equal(a.videos, b.videos)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert not np.array_equal(a.videos, c.videos)
    assert a.videos.min() >= 0.0 and a.videos.max() <= 1.0


def test_labels_are_the_sprites_classes():
    clips = moving_digits(8, seed=0, num_digits=2)
    _, classes = digit_sprites(14)
    np.testing.assert_array_equal(clips.labels, classes[clips.sprite_index])


def test_digits_stay_inside_the_frame():
    clips = moving_digits(20, seed=1, frames=30, num_digits=2, digit_size=14, max_speed=5.0)
    length = 32 - 14
    assert clips.positions.min() >= 0.0 and clips.positions.max() <= length
    # Drawing each digit alone keeps all of its ink: nothing is cut off at the borders.
    sprites, _ = digit_sprites(14)
    for i in range(5):
        for d in range(2):
            alone = render_clip(
                sprites[clips.sprite_index[i, d]][None], clips.positions[i, :, d : d + 1], 32
            )
            np.testing.assert_allclose(
                alone.sum((1, 2)), sprites[clips.sprite_index[i, d]].sum(), rtol=1e-5
            )


def test_frames_are_the_clipped_sum_of_the_digits():
    clips = moving_digits(4, seed=2, num_digits=2)
    sprites, _ = digit_sprites(14)
    for i in range(4):
        layers = [
            render_clip(
                sprites[clips.sprite_index[i, d]][None], clips.positions[i, :, d : d + 1], 32
            )
            for d in range(2)
        ]
        np.testing.assert_allclose(clips.videos[i], np.clip(layers[0] + layers[1], 0, 1), atol=1e-6)


def test_velocities_reflect_at_the_walls():
    clips = moving_digits(50, seed=5, frames=40, num_digits=1, min_speed=2.0, max_speed=4.0)
    p, v, length = clips.positions, clips.velocities, 32 - 14
    # Closed form of elastic bouncing: the unfolded straight line, folded back into [0, L].
    t = np.arange(40)[None, :, None, None]
    np.testing.assert_allclose(p, fold(p[:, :1] + v[:, :1] * t, length), atol=1e-9)
    # Speed is conserved; a component flips sign exactly when its step crossed a wall.
    np.testing.assert_allclose(np.abs(v), np.abs(v[:, :1]).repeat(40, 1))
    unfolded = p[:, :-1] + v[:, :-1]
    crossed = (unfolded < 0) | (unfolded > length)
    flipped = np.sign(v[:, 1:]) != np.sign(v[:, :-1])
    np.testing.assert_array_equal(crossed, flipped)
    assert crossed.sum() > 20  # the check saw many bounces


def test_physics_metric_separates_real_from_scrambled_motion():
    clips = moving_digits(12, seed=0, num_digits=1)
    kw = dict(num_digits=1, digit_size=14, min_speed=1.0, max_speed=3.0)
    real = motion_physics_error(clips.videos, **kw)
    assert real["motion_rmse_px"] < 0.6 and real["speed_error"] < 0.05  # rounding to pixels only
    shuffled = clips.videos[:, np.random.default_rng(0).permutation(16)]
    assert motion_physics_error(shuffled, **kw)["motion_rmse_px"] > 3.0
    frozen = motion_physics_error(np.repeat(clips.videos[:, :1], 16, axis=1), **kw)
    assert frozen["motion_rmse_any_speed_px"] < 1e-6  # standing still is a straight line at v = 0,
    assert (
        frozen["motion_rmse_px"] > 1.5 and frozen["speed_error"] > 0.9
    )  # but not at the recipe's speed


def test_moving_digits_bundle_items_and_classes():
    cfg = VideoDataConfig(num_train=8, num_val=4, num_digits=2, frames=8)
    bundle = build_video_data("video-diffusion", cfg, seed=0)
    video, label = bundle.train[0]
    assert video.shape == (1, 8, 32, 32) and -1.0 <= video.min() and video.max() <= 1.0
    assert bundle.info["num_classes"] == 55 and bundle.info["class_names"][label] == "".join(
        sorted(
            str(d)
            for d in moving_digits(
                8, seed=0, num_digits=2, frames=8, sprite_pool=_train_pool()
            ).labels[0]
        )
    )
    assert (
        bundle.digest == build_video_data("video-diffusion", cfg, seed=7).digest
    )  # the training seed does not matter


def _train_pool():
    order = np.random.default_rng(0).permutation(1797)
    return order[: int(0.8 * 1797)]


def test_data_command_writes_clips_the_folder_source_reads_back(tmp_path):
    out = write_moving_digits(tmp_path / "clips", n=5, seed=1, frames=8)
    assert (out / "_preview.gif").is_file() and (out / "trajectories.npz").is_file()
    with (out / "labels.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["clip"] for r in rows] == [f"clip_{i:05d}" for i in range(5)]
    (out / "broken").mkdir()
    (out / "broken" / "frame_000.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning, match="skipped 1 unreadable clip"):
        clips, labels, _, _, skipped = read_clip_folder(out, 32, 1, frames=8)
    expected = moving_digits(5, seed=1, frames=8)
    np.testing.assert_array_equal(clips[:, :, 0], np.rint(expected.videos * 255).astype(np.uint8))
    assert labels == [str(d) for d in expected.labels[:, 0]] and len(skipped) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bundle = build_video_data(
            "video-diffusion",
            VideoDataConfig(source="folder", root=str(out), frames=8, val_fraction=0.4),
            seed=0,
        )
    assert len(bundle.train) == 3 and len(bundle.val) == 2


def test_video_files_are_read_with_ffmpeg(tmp_path):
    import imageio.v3 as iio
    frames = np.zeros((6, 32, 32, 3), np.uint8)
    for t in range(6):
        frames[t, 8:24, 4 * t : 4 * t + 8] = 255
    (tmp_path / "clips").mkdir()
    iio.imwrite(
        tmp_path / "clips" / "a.mp4",
        frames,
        plugin="FFMPEG",
        fps=8,
        codec="libx264",
        macro_block_size=16,
    )
    (tmp_path / "clips" / "b.mp4").write_bytes(b"\x00" * 100)
    with pytest.warns(UserWarning, match="b.mp4"):
        clips, *_ = read_clip_folder(tmp_path / "clips", 32, 1, frames=6)
    assert clips.shape == (1, 6, 1, 32, 32)
    # H.264 is lossy: the bright block is found where it was drawn
    cols = clips[0, :, 0, 16].astype(float)
    assert [int(np.argmax(np.convolve(c, np.ones(8), "valid"))) for c in cols] == [
        0,
        4,
        8,
        12,
        16,
        20,
    ]


def test_missing_clip_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FickError, match="does not exist"):
        build_video_data(
            "video-diffusion", {"source": "folder", "root": str(tmp_path / "nope")}, seed=0
        )
    with pytest.raises(FickError, match="unknown key"):
        build_video_data("video-diffusion", {"source": "moving-digits", "fps": 3}, seed=0)
    assert torch.is_tensor(
        build_video_data("video-diffusion", {"num_train": 2, "num_val": 0}, seed=0).train[0][0]
    )
