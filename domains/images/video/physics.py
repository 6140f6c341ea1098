"""Digit tracking and the motion-physics check of moving-digits clips.

The recipe's physics (``moving_digits``): each sprite's corner moves as ``fold(q + v t)``, a
straight line folded back at the walls of the box ``[0, L]`` (elastic bounces), with a speed in
``[min_speed, max_speed]``. A clip that follows it is tracked by the intensity centroid of each
digit (k-means on the ink for two digits, identities carried by constant-velocity prediction), and
each centroid track is fitted with that model per axis: ``c_t = o + fold(q + v t)``, where ``o`` is
the unknown offset of the ink centroid inside its sprite (solved in closed form per candidate
``(q, v)``). The root-mean-square residual in pixels is the temporal-consistency error: about 0.3
px for real clips (sprites are drawn at rounded positions), large for jittery or teleporting
digits. A digit that stands still fits perfectly with ``v = 0``, so the fitted speed is checked
against the recipe's range too (``speed_error``).
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


def fit_bouncing_tracks(
    tracks: np.ndarray, length: float, max_speed: float, offset_range: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fit of ``c_t = o + fold(q + v t, length)`` to each row of ``tracks`` (M, T).

    Grid search over start ``q`` and velocity ``v`` (then a finer grid around the best), with the
    offset ``o`` solved in closed form and clipped to ``offset_range``. Returns the RMS residual
    (M,) in pixels and the fitted velocities (M,)."""
    t = np.arange(tracks.shape[1], dtype=np.float64)
    vmax = max_speed + 0.5

    def search(q_grid: np.ndarray, v_grid: np.ndarray, track: np.ndarray):
        # unfolded paths (V, Q, T) for every candidate, residuals against one track
        path = fold(q_grid[None, :, None] + v_grid[:, None, None] * t, length)
        o = np.clip((track - path).mean(-1, keepdims=True), *offset_range)
        err = ((track - o - path) ** 2).mean(-1)
        vi, qi = np.unravel_index(int(err.argmin()), err.shape)
        return v_grid[vi], q_grid[qi], float(err[vi, qi])

    coarse_q = np.arange(0.0, 2.0 * length, 0.5)
    coarse_v = np.arange(-vmax, vmax + 1e-9, 0.1)
    rms = np.full(len(tracks), np.nan)
    velocity = np.full(len(tracks), np.nan)
    for m, track in enumerate(tracks):
        if np.isnan(track).any():
            continue
        v, q, err = search(coarse_q, coarse_v, track)
        for dq, dv in ((0.5, 0.1), (0.1, 0.02), (0.02, 0.004)):
            v, q, err = search(q + np.linspace(-dq, dq, 11), v + np.linspace(-dv, dv, 11), track)
        rms[m], velocity[m] = np.sqrt(err), v
    return rms, velocity


def motion_physics_error(
    videos: np.ndarray,
    *,
    num_digits: int,
    digit_size: int,
    min_speed: float,
    max_speed: float,
) -> dict[str, float]:
    """Temporal consistency of clips (N, T, H, W) in [0, 1] against the recipe's physics.

    ``motion_rmse_px``: mean over digits of the RMS distance (pixels, both axes) between the
    tracked centroids and the best constant-velocity-with-bounces path; ``speed_error``: mean
    distance of the fitted speed from ``[min_speed, max_speed]`` (pixels per frame)."""
    n, t_len, h, w = videos.shape
    centres = digit_centroids(videos, num_digits)  # (N, T, D, 2)
    length = h - digit_size
    tracks = centres.transpose(0, 2, 3, 1).reshape(-1, t_len)  # (N*D*2, T)
    rms, vel = fit_bouncing_tracks(tracks, length, max_speed, (0.0, float(digit_size - 1)))
    rms, vel = rms.reshape(n, num_digits, 2), vel.reshape(n, num_digits, 2)
    per_digit = np.sqrt((rms**2).sum(-1))  # both axes
    speed = np.sqrt((vel**2).sum(-1))
    off = np.clip(min_speed - speed, 0, None) + np.clip(speed - max_speed, 0, None)
    return {
        "motion_rmse_px": float(np.nanmean(per_digit)),
        "speed_error": float(np.nanmean(off)),
    }
