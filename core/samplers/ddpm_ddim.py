"""DDPM (ancestral, Ho et al. 2020) and DDIM (Song et al. 2021), over any (alpha, sigma) grid.

From level i to the next level j (less noise), with a_ij = a_i / a_j and
s_ij^2 = s_i^2 - a_ij^2 s_j^2 (for VP: 1 - abar_i / abar_j):

- DDPM posterior: mean = a_ij s_j^2 / s_i^2 x + a_j s_ij^2 / s_i^2 x0,
  variance = s_ij^2 s_j^2 / s_i^2 (diffusers' "fixed_small").
- DDIM: x_j = a_j x0 + sqrt(s_j^2 - c^2) eps + c z with c = eta * sqrt(DDPM variance).

The next level is the next grid point (the paper's rule); diffusers' DDIM uses t - T // n,
which agrees only for ``leading`` spacing. ``resample`` > 1 repeats each step with RePaint's
re-noising (Lugmayr et al. 2022) for inpainting with a mask.
"""

from __future__ import annotations

import math

from .base import SamplerContext

__all__ = ["ddpm", "ddim"]


def _renoise(ctx: SamplerContext, x, i: int, j: int):
    """Forward process from level j back to the noisier level i (RePaint)."""
    a_i, s_i, a_j, s_j = ctx.grid.a[i], ctx.grid.s[i], ctx.grid.a[j], ctx.grid.s[j]
    ratio = a_i / a_j
    scale = math.sqrt(max(s_i * s_i - ratio * ratio * s_j * s_j, 0.0))
    x = {k: v * ratio for k, v in x.items()}
    return ctx.add_noise(x, scale)


def _ancestral(ctx: SamplerContext, x, eta: float | None, resample: int):
    g = ctx.grid
    for i in range(g.steps):
        j = i + 1
        a_i, s_i, a_j, s_j = g.a[i], g.s[i], g.a[j], g.s[j]
        ratio = a_i / a_j
        s_ij2 = max(s_i * s_i - ratio * ratio * s_j * s_j, 0.0)
        var = s_ij2 * s_j * s_j / (s_i * s_i)
        lvl = ctx.level(i)
        for r in range(resample):
            out = ctx.evaluate(x, lvl)
            if eta is None:  # DDPM
                new = ctx.combine(x, out, lvl, ratio * s_j * s_j / (s_i * s_i),
                                  a_j * s_ij2 / (s_i * s_i), 0.0)
                std = math.sqrt(var)
            else:
                std = eta * math.sqrt(var)
                ce = math.sqrt(max(s_j * s_j - std * std, 0.0))
                new = ctx.combine(x, out, lvl, 0.0, a_j, ce)
            new = ctx.add_noise(new, std)
            new = ctx.constrain(new, a_j, s_j)
            if r + 1 < resample and s_j > 0:
                x = ctx.constrain(_renoise(ctx, new, i, j), a_i, s_i)
            else:
                x = new
                break
        ctx.done(j)
    return x


def ddpm(ctx: SamplerContext, x, *, resample: int = 1):
    """Ancestral sampling with the DDPM posterior variance."""
    return _ancestral(ctx, x, None, int(resample))


def ddim(ctx: SamplerContext, x, *, eta: float = 0.0, resample: int = 1):
    """DDIM; ``eta`` = 0 is the deterministic sampler, 1 matches DDPM's variance."""
    return _ancestral(ctx, x, float(eta), int(resample))
