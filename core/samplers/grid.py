"""Sampling grids: the noise levels a sampler visits, computed once per call.

A grid is a list of levels ``(t, a, s)`` (model-facing process time, alpha, sigma), from the
noisiest to the final clean level (a = 1, s = 0 for VP; s = 0 for EDM / flow). The timestep
spacings follow diffusers so that parity holds (Lin et al. 2023, Table 2 names them):

- ``leading``: arange(n) * (T // n), reversed, plus ``offset``;
- ``trailing``: round(arange(T, 0, -T / n)) - 1;
- ``linspace``: linspace(0, T - 1, n), reversed (rounded for DDPM / DDIM, fractional for the
  Euler family; DPM-Solver uses linspace(0, T - 1, n + 1) without its last point);
- ``karras=True``: EDM's rho = 7 spacing in sigma/alpha between the grid's end points
  (DPM-Solver: the whole training range, as diffusers).

Continuous VP processes use t = linspace(1, 0, n + 1); EDM always uses its rho schedule
between sigma_max and sigma_min; flow uses diffusers' FlowMatchEuler grid
(linspace(1, shift(1/T), n), then shifted), each followed by the clean level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import FickError
from ..schedules import ContinuousVP, DiscreteVP, EDMProcess, FlowProcess, Process, karras_sigmas

__all__ = ["Grid", "build_grid", "SPACINGS"]

SPACINGS = ("leading", "trailing", "linspace")


@dataclass
class Grid:
    """Levels 0..n (level n is the final one) and the scale of the initial noise."""

    t: list[float]
    a: list[float]
    s: list[float]
    init_scale: float
    model_t: list[float] | None = None  # what the model is told when it differs from t

    @property
    def steps(self) -> int:
        return len(self.a) - 1

    def ve(self, i: int) -> float:
        """sigma/alpha at level i (inf where alpha = 0)."""
        return self.s[i] / self.a[i] if self.a[i] > 0 else math.inf


def _timesteps(T: int, n: int, spacing: str, offset: int, rounded: bool,
               dpm: bool) -> list[float]:
    if spacing not in SPACINGS:
        raise FickError(f"unknown spacing {spacing!r}: use one of {list(SPACINGS)}")
    if spacing == "linspace":
        m = n + 1 if dpm else n
        # numpy's linspace: i * step + start, with the end point set exactly.
        step = (T - 1) / (m - 1) if m > 1 else 0.0
        ts = [i * step for i in range(m)]
        ts[-1] = float(T - 1) if m > 1 else 0.0
        ts = ts[::-1][:-1] if dpm else ts[::-1]
        return [round_half_even(v) for v in ts] if (rounded or dpm) else ts
    if spacing == "leading":
        if dpm:
            ratio = T // (n + 1)
            return [float(i * ratio + offset) for i in range(n + 1)][::-1][:-1]
        ratio = T // n
        return [float(i * ratio + offset) for i in range(n)][::-1]
    # trailing: np.arange(T, 0, -T / n).round() - 1 (torch.arange has numpy's length rule)
    ts = torch.arange(float(T), 0.0, -T / n, dtype=torch.float64).round() - 1
    return [float(v) for v in ts]


def round_half_even(v: float) -> float:
    """numpy's round (half to even), which diffusers uses for its timestep tables."""
    return float(round(v))


def _interp_ve(process: DiscreteVP, t: float) -> float:
    sig = process.ve_sigmas
    T = process.num_steps
    t = min(max(t, 0.0), T - 1)
    lo = min(int(math.floor(t)), T - 2)
    w = t - lo
    return float(sig[lo]) * (1 - w) + float(sig[lo + 1]) * w


def _from_ve(process: Process, ves: list[float], ts: list[float] | None):
    levels = []
    for i, v in enumerate(ves):
        t, a, s = process.level_from_ve_sigma(v)
        if ts is not None:
            t = ts[i]
        levels.append((t, a, s))
    return levels


def build_grid(process: Process, family: str, steps: int, spacing: str | None = None,
               karras: bool = False, offset: int = 0) -> Grid:
    """The levels of one sampling call. ``family``: ddim (ddpm, ddim), dpm (DPM-Solver++),
    euler (euler, euler-ancestral, heun) or flow."""
    n = int(steps)
    if n < 1:
        raise FickError(f"steps must be >= 1, got {steps}")
    if isinstance(process, DiscreteVP):
        return _discrete_grid(process, family, n, spacing, karras, offset)
    if isinstance(process, ContinuousVP):
        if karras:
            lo, hi = process.ve_sigma_range()
            levels = _from_ve(process, karras_sigmas(lo, hi, n), None)
        else:
            ts = [1 - i / n for i in range(n)]
            levels = [(t, float(process.alpha(t)), float(process.sigma(t))) for t in ts]
        return _finish(levels, (0.0, 1.0, 0.0), 1.0)
    if isinstance(process, EDMProcess):
        sig = karras_sigmas(process.sigma_min, process.sigma_max, n, process.rho)
        levels = [(v, 1.0, v) for v in sig]
        return _finish(levels, (0.0, 1.0, 0.0), sig[0])
    if isinstance(process, FlowProcess):
        T = process.num_train_timesteps
        lo = process.shift_t(1.0 / T)
        base = [1.0 + (lo - 1.0) * i / (n - 1) if n > 1 else 1.0 for i in range(n)]
        ts = [process.shift_t(b) for b in base]
        levels = [(t, 1 - t, t) for t in ts]
        return _finish(levels, (0.0, 1.0, 0.0), 1.0)
    raise FickError(f"no sampling grid for process {process!r}")


def _finish(levels, final, init_scale, model_t=None) -> Grid:
    levels = list(levels) + [final]
    return Grid([lv[0] for lv in levels], [lv[1] for lv in levels], [lv[2] for lv in levels],
                init_scale, model_t)


def _discrete_grid(process: DiscreteVP, family, n, spacing, karras, offset) -> Grid:
    T = process.num_steps
    abar = process.alphas_cumprod
    if family == "ddim":
        ts = _timesteps(T, n, spacing or "leading", offset, rounded=True, dpm=False)
        if karras:
            lo, hi = _interp_ve(process, ts[-1]), _interp_ve(process, ts[0])
            levels = _from_ve(process, karras_sigmas(lo, hi, n), None)
        else:
            levels = [(t, math.sqrt(float(abar[int(t)])), math.sqrt(1 - float(abar[int(t)])))
                      for t in ts]
        return _finish(levels, (-1.0, 1.0, 0.0), 1.0)
    if family == "dpm":
        ts = _timesteps(T, n, spacing or "linspace", offset, rounded=True, dpm=True)
        if karras:
            lo, hi = process.ve_sigma_range()
            ves = karras_sigmas(lo, hi, n)
            model_ts = [float(round_half_even(process.t_from_ve_sigma(v))) for v in ves]
            levels = _from_ve(process, ves, model_ts)
        else:
            levels = _from_ve(process, [_interp_ve(process, t) for t in ts], ts)
        return _finish(levels, (-1.0, 1.0, 0.0), 1.0)
    if family in ("euler", "flow"):
        spacing = spacing or "linspace"
        ts = _timesteps(T, n, spacing, offset, rounded=False, dpm=False)
        ves = [_interp_ve(process, t) for t in ts]
        if karras:
            ves = karras_sigmas(ves[-1], ves[0], n)
            levels = _from_ve(process, ves, None)
        else:
            levels = _from_ve(process, ves, ts)
        s_max = max(ves)
        # diffusers' init_noise_sigma: sigma_max for linspace / trailing, sqrt(sigma_max^2 + 1)
        # otherwise, in sigma/alpha units; times alpha_0 it is the VP-form scale.
        init = s_max if spacing in ("linspace", "trailing") else math.sqrt(s_max**2 + 1)
        return _finish(levels, (-1.0, 1.0, 0.0), init * levels[0][1])
    raise FickError(f"unknown sampler family {family!r}")
