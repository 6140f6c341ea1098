"""What every sampler shares: model evaluation, parameterisation algebra, noise, constraints.

Samplers hold the state in the process's native form (VP: x_t = a x0 + s eps) and write each
update as a linear combination of x, the denoised estimate and the noise estimate. Because x0
and eps are themselves linear in (x, raw model output), an update collapses to two fused
kernels ``A x + B out`` with coefficients precomputed in Python floats: no per-element Python
loops, no ``.item()`` syncs, float64 coefficients whatever the state's dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import FickError
from ..schedules import EDMProcess, Process
from ..spaces import StateSpec, randn_like
from .grid import Grid

__all__ = ["Level", "SamplerContext"]

State = dict[str, Tensor]


@dataclass
class Level:
    """One noise level: model time tensor (B,), alpha, sigma, and x0 = px x + pp out,
    eps = qx x + qp out for the model's parameterisation (None where undefined)."""

    t: Tensor
    a: float
    s: float
    px: float
    pp: float
    qx: float | None
    qp: float | None
    c_in: float = 1.0


def _coefs(prediction: str, a: float, s: float, edm: tuple | None):
    """(px, pp, qx, qp) with x0 = px x + pp out and eps = qx x + qp out."""
    if prediction == "epsilon":
        if a == 0.0:
            raise FickError("an epsilon prediction cannot be denoised at zero signal (alpha = 0, "
                            "zero-terminal-SNR or flow at t = 1): use prediction v, x0 or velocity")
        px, pp, qx, qp = 1 / a, -s / a, 0.0, 1.0
    elif prediction == "x0":
        px, pp = 0.0, 1.0
        qx, qp = (1 / s, -a / s) if s > 0 else (None, None)
    elif prediction == "v":
        n = a * a + s * s
        px, pp, qx, qp = a / n, -s / n, s / n, a / n
    elif prediction == "velocity":
        px, pp, qx, qp = 1.0, -s, 1.0, a
    else:  # edm: D = c_skip x + c_out F; eps = (x - D) / s
        c_skip, c_out = edm
        px, pp = c_skip, c_out
        qx, qp = ((1 - c_skip) / s, -c_out / s) if s > 0 else (None, None)
    return px, pp, qx, qp


def _axpby(a: float, x: Tensor, b: float, y: Tensor) -> Tensor:
    if b == 0.0:
        return x * a if a != 1.0 else x.clone()
    if a == 1.0:
        return torch.add(x, y, alpha=b)
    if a == 0.0:
        return y * b
    return torch.mul(x, a).add_(y, alpha=b)


class SamplerContext:
    """Everything a sampler function needs besides its own options.

    ``grid``: the levels; ``level(i)`` / ``make_level(t, a, s)``: model-facing levels;
    ``evaluate(x, lvl)``: one network call (raw output, projected);
    ``combine(x, out, lvl, cx, c0, ce)``: cx x + c0 x0 + ce eps in two kernels;
    ``x0``/``eps``: materialised estimates; ``noise(like)``: fresh noise from the generator;
    ``constrain(x, a, s)``: hold masked parts at their known values noised to (a, s);
    ``done(i)``: progress callback.
    """

    def __init__(self, model: Callable, process: Process, prediction: str, grid: Grid,
                 spec: StateSpec, plain: bool, batch: int, ref: Tensor, model_kwargs: dict,
                 generator: torch.Generator | None, mask: dict | None, known: dict | None,
                 noise0: State, callback: Callable | None, clip_denoised: float | None):
        self.model, self.process, self.prediction = model, process, prediction
        self.grid, self.spec, self.plain, self.batch = grid, spec, plain, batch
        self.model_kwargs, self.generator = model_kwargs, generator
        self.mask, self.known, self.noise0 = mask or {}, known or {}, noise0
        self.callback, self.clip = callback, clip_denoised
        self.device = ref.device
        self.t_dtype = torch.float64 if ref.dtype == torch.float64 else torch.float32
        self.edm = isinstance(process, EDMProcess)
        self.project_out = spec.needs_projection
        self._times = [self._model_time(t) for t in (grid.model_t or grid.t)]

    def _model_time(self, t: float) -> float:
        return math.log(t) / 4 if self.edm and t > 0 else t

    def _build(self, t_tensor: Tensor, a: float, s: float) -> Level:
        edm = None
        c_in = 1.0
        if self.edm:
            c_skip, c_out, c_in, _ = self.process.precondition(s)
            edm = (c_skip, c_out)
        return Level(t_tensor, a, s, *_coefs(self.prediction, a, s, edm), c_in=c_in)

    def level(self, i: int) -> Level:
        """The model-facing level of grid point i. The time tensor is made per call (a fill
        from a Python float: no host-device sync, no table of steps x batch in memory)."""
        tt = torch.full((self.batch,), self._times[i], dtype=self.t_dtype, device=self.device)
        return self._build(tt, self.grid.a[i], self.grid.s[i])

    def make_level(self, t: float, a: float, s: float) -> Level:
        """An off-grid level (churned or midpoint levels)."""
        tt = torch.full((self.batch,), self._model_time(t), dtype=self.t_dtype,
                        device=self.device)
        return self._build(tt, a, s)

    # ------------------------------------------------------------------ network evaluation
    def evaluate(self, x: State, lvl: Level) -> State:
        """One network call at level ``lvl``; returns the raw prediction as a state."""
        x_in = {k: v * lvl.c_in for k, v in x.items()} if self.edm else x
        out = self.model(x_in["x"] if self.plain else x_in, lvl.t, **self.model_kwargs)
        out = {"x": out} if self.plain else dict(out)
        if self.project_out:
            out = self.spec.project(out)
        return out

    def x0(self, x: State, out: State, lvl: Level) -> State:
        if self.prediction == "x0" and self.clip is None:
            return out
        x0 = {k: _axpby(lvl.px, x[k], lvl.pp, out[k]) for k in x}
        if self.clip is not None:
            x0 = {k: v.clamp(-self.clip, self.clip) for k, v in x0.items()}
        return x0

    def eps(self, x: State, out: State, lvl: Level) -> State:
        if self.clip is not None:
            x0 = self.x0(x, out, lvl)
            return {k: (x[k] - lvl.a * x0[k]) / lvl.s for k in x}
        if self.prediction == "epsilon":
            return out
        return {k: _axpby(lvl.qx, x[k], lvl.qp, out[k]) for k in x}

    def combine(self, x: State, out: State, lvl: Level, cx: float, c0: float,
                ce: float) -> State:
        """cx x + c0 x0 + ce eps, as A x + B out (two kernels per component)."""
        if self.clip is not None or (ce != 0.0 and lvl.qx is None):
            x0 = self.x0(x, out, lvl)
            if ce == 0.0:
                return {k: _axpby(cx, x[k], c0, x0[k]) for k in x}
            # eps = (x - a x0) / s
            a_x = cx + ce / lvl.s
            a_0 = c0 - ce * lvl.a / lvl.s
            return {k: _axpby(a_x, x[k], a_0, x0[k]) for k in x}
        A = cx + c0 * lvl.px + (ce * lvl.qx if ce != 0.0 else 0.0)
        B = c0 * lvl.pp + (ce * lvl.qp if ce != 0.0 else 0.0)
        return {k: _axpby(A, x[k], B, out[k]) for k in x}

    # ----------------------------------------------------------------- noise, constraints
    def noise(self, like: State) -> State:
        return {k: self.spec.space(k).noise(v, self.spec.index.get(k), self.spec.num_samples,
                                            self.generator) for k, v in like.items()}

    def add_noise(self, x: State, scale: float) -> State:
        """x + scale z with fresh noise z (nothing drawn when scale is 0)."""
        if scale == 0.0:
            return x
        z = self.noise(x)
        return {k: torch.add(x[k], z[k], alpha=scale) for k in x}

    def constrain(self, x: State, a: float, s: float) -> State:
        """Replace masked parts by the known values at level (a, s), noised with the initial
        noise so that the known trajectory is the deterministic forward process."""
        if not self.mask:
            return x
        x = dict(x)
        for k, m in self.mask.items():
            target = self.known[k] if s == 0.0 and a == 1.0 else (
                self.known[k] * a + self.noise0[k] * s)
            x[k] = torch.where(m, target, x[k])
        return x

    def done(self, i: int) -> None:
        if self.callback is not None:
            self.callback(i, self.grid.steps)

    def randn(self, like: Tensor) -> Tensor:
        return randn_like(like, self.generator)
