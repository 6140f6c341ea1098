"""Moving digits: the Moving MNIST recipe, offline, from scikit-learn's bundled digits.

Srivastava et al. (2015): digits move in straight lines inside the frame and bounce off the walls;
the frames of the separate digits are summed and clipped to [0, 1]. MNIST is a download, so the
sprites are scikit-learn's 1,797 bundled 8x8 digits, upscaled. Everything is drawn from one
``numpy.random.Generator`` seeded by the caller, so a seed gives the same clips on every machine.

Motion is elastic: a sprite's top-left corner ``p`` lives in ``[0, L]`` per axis (``L = size -
digit_size``); each frame ``p += v``, and a step that crosses a wall is folded back into the box
with that velocity component negated. The corner is therefore ``fold(p0 + v0 t)`` with ``fold`` the
triangle wave of period ``2L`` (``fold`` below; the tests and the physics metric use that closed
form). Sprites are drawn at the rounded corner position, so the whole sprite is
always inside the frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["MovingDigits", "digit_sprites", "fold", "moving_digits", "render_clip"]


@dataclass
class MovingDigits:
    """A set of moving-digits clips and the ground truth behind them.

    videos: (N, T, H, W) float32 in [0, 1]; labels: (N, D) digit classes in spawn order;
    positions: (N, T, D, 2) float64 top-left corner (row, col) of each sprite, before rounding;
    velocities: (N, T, D, 2) velocity used to move from frame t to t + 1 (after any bounce in t);
    sprite_index: (N, D) which scikit-learn image each digit is; digit_size: sprite side in pixels.
    """

    videos: np.ndarray
    labels: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    sprite_index: np.ndarray
    digit_size: int

    def __len__(self) -> int:
        return len(self.videos)


@lru_cache(maxsize=8)
def digit_sprites(digit_size: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 digits as (N, s, s) float32 sprites in [0, 1] and their classes.

    Upscaled with Pillow's bicubic filter (clipped back to [0, 1]), like a small MNIST digit."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = (digits.images / 16.0).astype(np.float32)
    sprites = np.stack(
        [
            np.asarray(
                Image.fromarray(im, mode="F").resize((digit_size, digit_size), Image.BICUBIC)
            )
            for im in small
        ]
    )
    sprites = np.clip(sprites, 0.0, 1.0).astype(np.float32)
    sprites.setflags(write=False)
    return sprites, digits.target.astype(np.int64)


def fold(x: np.ndarray, length: float) -> np.ndarray:
    """The triangle wave of period ``2 * length``: where a point moving as ``x`` (unbounded) is
    when it reflects elastically off walls at 0 and ``length``."""
    if length <= 0:
        return np.zeros_like(x)
    y = np.mod(x, 2.0 * length)
    return np.where(y > length, 2.0 * length - y, y)


def _step(p: np.ndarray, v: np.ndarray, length: float) -> tuple[np.ndarray, np.ndarray]:
    """One frame of elastic motion in the box [0, length] (per component)."""
    p = p + v
    # A step is at most one box wide (speed <= L is checked), so one fold per wall suffices.
    low, high = p < 0, p > length
    p = np.where(low, -p, np.where(high, 2.0 * length - p, p))
    v = np.where(low | high, -v, v)
    return p, v


def render_clip(sprites: np.ndarray, positions: np.ndarray, size: int) -> np.ndarray:
    """Frames (T, size, size) of sprites (D, s, s) drawn at corners ``positions`` (T, D, 2):
    each digit on its own canvas, summed, clipped to [0, 1] (the Moving MNIST composite)."""
    num_frames, num_digits = positions.shape[:2]
    s = sprites.shape[-1]
    corners = np.rint(positions).astype(np.int64)
    frames = np.zeros((num_frames, size, size), np.float32)
    for t in range(num_frames):
        for d in range(num_digits):
            r, c = corners[t, d]
            frames[t, r : r + s, c : c + s] += sprites[d]
    return np.clip(frames, 0.0, 1.0)


def moving_digits(
    n: int,
    *,
    seed: int,
    frames: int = 16,
    size: int = 32,
    num_digits: int = 1,
    digit_size: int = 14,
    min_speed: float = 1.0,
    max_speed: float = 3.0,
    sprite_pool: np.ndarray | None = None,
) -> MovingDigits:
    """``n`` clips of ``num_digits`` digits bouncing in a ``size`` x ``size`` frame.

    Each digit gets a random sprite (from ``sprite_pool`` indices if given, e.g. to keep train and
    validation sprites apart), a uniform start corner, a uniform direction and a speed uniform in
    ``[min_speed, max_speed]`` pixels per frame. Deterministic for ``seed``."""
    length = size - digit_size
    if length < 1:
        raise ValueError(f"digit_size {digit_size} must be smaller than the frame size {size}")
    if not 0 < min_speed <= max_speed <= length:
        raise ValueError(f"need 0 < min_speed <= max_speed <= size - digit_size ({length})")
    sprites, classes = digit_sprites(digit_size)
    pool = np.arange(len(sprites)) if sprite_pool is None else np.asarray(sprite_pool)
    rng = np.random.default_rng(seed)

    sprite_index = pool[rng.integers(0, len(pool), size=(n, num_digits))]
    p = rng.uniform(0.0, length, size=(n, num_digits, 2))
    angle = rng.uniform(0.0, 2.0 * np.pi, size=(n, num_digits))
    speed = rng.uniform(min_speed, max_speed, size=(n, num_digits))
    v = np.stack([np.sin(angle), np.cos(angle)], axis=-1) * speed[..., None]

    positions = np.empty((n, frames, num_digits, 2))
    velocities = np.empty_like(positions)
    for t in range(frames):
        positions[:, t], velocities[:, t] = p, v
        p, v = _step(p, v, length)

    videos = (
        np.stack([render_clip(sprites[sprite_index[i]], positions[i], size) for i in range(n)])
        if n
        else np.zeros((0, frames, size, size), np.float32)
    )
    return MovingDigits(
        videos=videos,
        labels=classes[sprite_index],
        positions=positions,
        velocities=velocities,
        sprite_index=sprite_index,
        digit_size=digit_size,
    )
