"""Grids people look at are enlarged (nearest neighbour, at least VIEW_MIN_SIDE pixels an image);
the per-image PNGs and per-clip GIFs, which evaluation reads back, keep their own size."""

import numpy as np
import pytest
import torch
from fick.domains.base import FickError
from fick.domains.images.export import (
    VIEW_MIN_SIDE,
    ImageSample,
    load_images,
    make_grid,
    upscale_factor,
    write_samples,
)
from fick.domains.images.video.export import (
    VideoSample,
    frame_strip,
    load_video_samples,
    write_video_samples,
)
from PIL import Image


def _random_images(n, c, h, w, seed=0):
    gen = torch.Generator().manual_seed(seed)
    # 8-bit levels, so that the PNGs hold the values exactly
    return torch.randint(0, 256, (n, c, h, w), generator=gen).float() / 127.5 - 1.0


def _nearest(arr: np.ndarray, k: int) -> np.ndarray:
    """PIL's own nearest-neighbour resize, the independent reference of the enlargement."""
    img = Image.fromarray(arr)
    return np.asarray(img.resize((img.width * k, img.height * k), Image.NEAREST))


def test_sixteen_digit_sized_images_make_a_grid_big_enough_to_see(tmp_path):
    images = _random_images(16, 1, 16, 16)
    samples = [ImageSample(x, i % 10) for i, x in enumerate(images)]
    files = write_samples(samples, tmp_path)
    grid = np.asarray(Image.open(files[0]))
    k, pad = 6, 2  # 16 px * 6 = 96 px per image, 4 x 4 images
    assert VIEW_MIN_SIDE == 96 and grid.shape == (4 * (96 + pad) + pad,) * 2
    for i, path in enumerate(files[1:]):
        own = np.asarray(Image.open(path))
        assert own.shape == (16, 16)  # the sample itself is not resized
        r, col = divmod(i, 4)
        top, left = pad + r * (96 + pad), pad + col * (96 + pad)
        assert np.array_equal(grid[top : top + 96, left : left + 96], _nearest(own, k))
    assert grid[0].max() == 0 and grid[:, 0].max() == 0  # the black border between images
    back = load_images(tmp_path)  # the grid is not read back as a sample
    assert len(back) == 16
    assert all(torch.allclose(b.image, s.image, atol=1e-6) for b, s in zip(back, samples))


@pytest.mark.parametrize(
    ("shape", "factor"), [((3, 12, 20), 8), ((1, 96, 96), 1), ((3, 128, 64), 2), ((1, 7, 7), 14)]
)
def test_grid_factor_makes_the_short_side_at_least_the_minimum(shape, factor):
    c, h, w = shape
    assert upscale_factor(h, w, VIEW_MIN_SIDE) == factor
    grid = make_grid(list(_random_images(3, c, h, w)), columns=3, padding=1, min_side=96)
    assert grid.shape == (c, h * factor + 2, 3 * (w * factor + 1) + 1)
    assert min(h, w) * factor >= 96 and min(h, w) * (factor - 1) < 96


def test_native_grid_is_the_old_layout_and_empty_input_is_an_error():
    # the 69-pixel grid of 16 digits the enlargement replaces
    assert make_grid(list(_random_images(16, 1, 16, 16)), padding=1).shape == (1, 69, 69)
    with pytest.raises(FickError, match="no images"):
        make_grid([])


def test_video_strip_enlarged_gifs_kept_at_their_size(tmp_path):
    frames = _random_images(5, 1, 32, 32)
    samples = [VideoSample(frames, 3), VideoSample(frames.flip(0), None)]
    files = write_video_samples(samples, tmp_path, mp4=False)
    strip = np.asarray(Image.open(files[0]))
    pad, side = 2, 96  # 32 px * 3
    assert strip.shape == (2 * (side + pad) + pad, 5 * (side + pad) + pad)
    first = ((frames[0, 0] + 1) * 127.5).round().to(torch.uint8).numpy()
    assert np.array_equal(strip[pad : pad + side, pad : pad + side], _nearest(first, 3))
    back = load_video_samples(tmp_path)
    assert [tuple(s.frames.shape) for s in back] == [(5, 1, 32, 32)] * 2
    torch.testing.assert_close(back[0].frames, frames, atol=1e-6, rtol=0)
    # the layout function keeps the native size unless asked
    assert frame_strip(samples, padding=1).shape == (2 * 33 + 1, 5 * 33 + 1)
