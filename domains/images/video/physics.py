"""Digit tracking and the motion-physics check of moving-digits clips.

The recipe's physics (``moving_digits``): each sprite's corner moves as ``fold(q + v t)``, a
straight line folded back at the walls of the box ``[0, L]`` (elastic bounces), with a speed in
``[min_speed, max_speed]``. A clip that follows it is tracked by the intensity centroid of each
digit (k-means on the ink for two digits, identities carried by constant-velocity prediction), and
each centroid track is fitted with that model, ``c_t = o + fold(q + v t)`` per axis, where ``o``
is the unknown offset of the ink centroid inside its sprite (solved in closed form per candidate
``(q, v)``) and the speed ``|v|`` is held in the recipe's range. The root-mean-square residual in
pixels is the temporal-consistency error: about 0.3 px for real clips (sprites are drawn at
rounded positions), large for jittery, teleporting or frozen digits.
"""

from __future__ import annotations

import numpy as np

from .moving_digits import fold

__all__ = ["digit_centroids", "fit_bouncing_tracks", "motion_physics_error"]


def _weighted_centroid(weights: np.ndarray, coords: np.ndarray) -> np.ndarray:
    total = weights.sum()
    if total <= 0:
        return np.full(2, np.nan)
    return (weights[:, None] * coords).sum(0) / total


def digit_centroids(videos: np.ndarray, num_digits: int, iterations: int = 10) -> np.ndarray:
    """Intensity centroids (N, T, D, 2) (row, col) of the digits in ``videos`` (N, T, H, W).

    One digit: the centroid of the frame. Two or more: weighted k-means on pixel coordinates,
    started in frame 0 from the farthest pair of ink pixels and in later frames from each track's
    constant-velocity prediction, which keeps identities through crossings."""
    n, t_len, h, w = videos.shape
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    coords = np.stack([rows.ravel(), cols.ravel()], axis=1).astype(np.float64)
    out = np.full((n, t_len, num_digits, 2), np.nan)
    for i in range(n):
        for t in range(t_len):
            weights = np.clip(videos[i, t].reshape(-1).astype(np.float64), 0.0, None)
            if num_digits == 1:
                out[i, t, 0] = _weighted_centroid(weights, coords)
                continue
            if t == 0:
                ink = coords[weights > 0.5 * weights.max()] if weights.max() > 0 else coords
                centres = [ink[0]]
                for _ in range(1, num_digits):  # farthest-point start
                    dist = np.min([((ink - c) ** 2).sum(1) for c in centres], axis=0)
                    centres.append(ink[int(dist.argmax())])
                centres = np.array(centres)
            else:
                prev = out[i, t - 1]
                centres = prev + (prev - out[i, t - 2]) if t > 1 else prev.copy()
                centres = np.where(np.isnan(centres), prev, centres)
            for _ in range(iterations):
                assign = ((coords[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
                new = np.array(
                    [_weighted_centroid(weights * (assign == d), coords) for d in range(num_digits)]
                )
                centres = np.where(np.isnan(new), centres, new)
            out[i, t] = centres
    return out


def _axis_fit(
    track: np.ndarray,
    length: float,
    q_grid: np.ndarray,
    v_grid: np.ndarray,
    offset_range: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Mean squared residual of the best ``o + fold(q + v t)`` per candidate velocity (V,), and
    the best start ``q`` per velocity; ``o`` solved in closed form, clipped to ``offset_range``."""
    t = np.arange(len(track), dtype=np.float64)
    path = fold(q_grid[None, :, None] + v_grid[:, None, None] * t, length)  # (V, Q, T)
    o = np.clip((track - path).mean(-1, keepdims=True), *offset_range)
    err = ((track - o - path) ** 2).mean(-1)
    best = err.argmin(1)
    return err[np.arange(len(v_grid)), best], q_grid[best]


def _refine(track, length, q, v, offset_range, dv_max):
    """Local grid refinement of one axis around (q, v); v moves at most ``dv_max``."""
    v0 = v
    for dq, dv in ((0.25, 0.05), (0.05, 0.01), (0.01, 0.002)):
        v_grid = np.clip(v + np.linspace(-dv, dv, 11), v0 - dv_max, v0 + dv_max)
        err, qs = _axis_fit(track, length, q + np.linspace(-dq, dq, 11), v_grid, offset_range)
        i = int(err.argmin())
        v, q, best = v_grid[i], qs[i], err[i]
    return best, v


def fit_bouncing_tracks(
    tracks: np.ndarray,
    length: float,
    speed_range: tuple[float, float],
    offset_range: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares fits of ``c_t = o + fold(q + v t, length)`` (per axis) to 2D tracks
    (M, T, 2), the offset ``o`` solved in closed form and clipped to ``offset_range``.

    Returns the RMS distance (M,) in pixels of the best fit whose speed ``|v|`` is in
    ``speed_range`` (the recipe's physics), the RMS distance (M,) of the best fit at any speed,
    and the speed (M,) of that unconstrained fit. Grid search over (q, v) per axis, then the
    best velocity pair, then a finer local grid."""
    lo, hi = speed_range
    step = 0.05
    v_grid = np.arange(-hi - 0.5, hi + 0.5 + 1e-9, step)
    q_grid = np.arange(0.0, 2.0 * length, 0.25)
    vx, vy = np.meshgrid(v_grid, v_grid, indexing="ij")
    speed = np.hypot(vx, vy)
    allowed = (speed >= lo - step) & (speed <= hi + step)
    out = np.full((3, len(tracks)), np.nan)
    for m, track in enumerate(tracks):
        if np.isnan(track).any():
            continue
        fits = [_axis_fit(track[:, axis], length, q_grid, v_grid, offset_range) for axis in (0, 1)]
        total = fits[0][0][:, None] + fits[1][0][None, :]  # (V, V) summed squared residuals
        for k, mask in enumerate((allowed, np.ones_like(allowed))):
            i, j = np.unravel_index(int(np.where(mask, total, np.inf).argmin()), total.shape)
            ex, v_x = _refine(track[:, 0], length, fits[0][1][i], v_grid[i], offset_range, step)
            ey, v_y = _refine(track[:, 1], length, fits[1][1][j], v_grid[j], offset_range, step)
            out[k, m] = np.sqrt(ex + ey)
            if k == 1:
                out[2, m] = np.hypot(v_x, v_y)
    return out[0], out[1], out[2]


def motion_physics_error(
    videos: np.ndarray,
    *,
    num_digits: int,
    digit_size: int,
    min_speed: float,
    max_speed: float,
    centres: np.ndarray | None = None,
) -> dict[str, float]:
    """Temporal consistency of clips (N, T, H, W) in [0, 1] against the recipe's physics.

    ``motion_rmse_px``: mean over digits of the RMS distance (pixels) between the tracked
    centroids and the best straight-line-with-bounces path at a speed in the recipe's range;
    ``motion_rmse_any_speed_px``: the same at any speed (a digit standing still scores 0 here);
    ``speed_error``: mean distance of that free fit's speed from ``[min_speed, max_speed]``.
    ``centres``: the ``digit_centroids`` of ``videos`` when already computed."""
    n, t_len, h, w = videos.shape
    if centres is None:
        centres = digit_centroids(videos, num_digits)  # (N, T, D, 2)
    tracks = centres.transpose(0, 2, 1, 3).reshape(-1, t_len, 2)  # (N*D, T, 2)
    rms, rms_free, speed = fit_bouncing_tracks(
        tracks, h - digit_size, (min_speed, max_speed), (0.0, float(digit_size - 1))
    )
    off = np.clip(min_speed - speed, 0, None) + np.clip(speed - max_speed, 0, None)
    return {
        "motion_rmse_px": float(np.nanmean(rms)),
        "motion_rmse_any_speed_px": float(np.nanmean(rms_free)),
        "speed_error": float(np.nanmean(off)),
    }
