"""Euler, Euler-ancestral and Heun in sigma/alpha space (Karras et al. 2022).

With S = sigma/alpha the probability-flow ODE is dx/dS = eps(x) for x = x_t / alpha (EDM's
form, diffusers' Euler/Heun "sigmas"). The state stays in VP form x_t = alpha x_VE, so each
update is rewritten with the alpha ratio: x' = (a'/a) x + a' (S' - S) eps. The network gets
the VP-form input and the (fractional) training timestep, i.e. what diffusers passes after
``scale_model_input``.

Heun is EDM Algorithm 2: a second evaluation at the next level except on the last step (to
S = 0), with optional churn: gamma = min(churn / n, sqrt(2) - 1) for S in [s_tmin, s_tmax],
S_hat = S (1 + gamma), x_hat = x + sqrt(S_hat^2 - S^2) s_noise z.
"""

from __future__ import annotations

import math

from .base import SamplerContext

__all__ = ["euler", "euler_ancestral", "heun"]


def _churn(ctx: SamplerContext, x, i: int, churn: float, s_tmin: float, s_tmax: float,
           s_noise: float):
    """(x_hat, level_hat, a_hat, S_hat) after EDM's stochastic churn at level i."""
    g = ctx.grid
    a0, S0 = g.a[i], g.ve(i)
    gamma = min(churn / g.steps, math.sqrt(2) - 1) if s_tmin <= S0 <= s_tmax else 0.0
    if gamma == 0.0:
        return x, ctx.level(i), a0, S0
    S_hat = S0 * (1 + gamma)
    t_hat, a_hat, s_hat = ctx.process.level_from_ve_sigma(S_hat)
    x = {k: v * (a_hat / a0) for k, v in x.items()}
    x = ctx.add_noise(x, a_hat * math.sqrt(S_hat**2 - S0**2) * s_noise)
    x = ctx.constrain(x, a_hat, s_hat)
    return x, ctx.make_level(t_hat, a_hat, s_hat), a_hat, S_hat


def euler(ctx: SamplerContext, x, *, churn: float = 0.0, s_tmin: float = 0.0,
          s_tmax: float = math.inf, s_noise: float = 1.0):
    """First-order Euler steps of the probability-flow ODE (optional EDM churn)."""
    g = ctx.grid
    for i in range(g.steps):
        x, lvl, a0, S0 = _churn(ctx, x, i, churn, s_tmin, s_tmax, s_noise)
        a1, S1 = g.a[i + 1], g.ve(i + 1)
        out = ctx.evaluate(x, lvl)
        x = ctx.combine(x, out, lvl, a1 / a0, 0.0, a1 * (S1 - S0))
        x = ctx.constrain(x, a1, g.s[i + 1])
        ctx.done(i + 1)
    return x


def euler_ancestral(ctx: SamplerContext, x, *, eta: float = 1.0):
    """Euler steps to S_down plus fresh noise of scale S_up (k-diffusion / diffusers)."""
    g = ctx.grid
    for i in range(g.steps):
        a0, S0, a1, S1 = g.a[i], g.ve(i), g.a[i + 1], g.ve(i + 1)
        up = min(S1, eta * math.sqrt(max(S1 * S1 * (S0 * S0 - S1 * S1) / (S0 * S0), 0.0)))
        down = math.sqrt(max(S1 * S1 - up * up, 0.0))
        lvl = ctx.level(i)
        out = ctx.evaluate(x, lvl)
        x = ctx.combine(x, out, lvl, a1 / a0, 0.0, a1 * (down - S0))
        x = ctx.add_noise(x, a1 * up)
        x = ctx.constrain(x, a1, g.s[i + 1])
        ctx.done(i + 1)
    return x


def heun(ctx: SamplerContext, x, *, churn: float = 0.0, s_tmin: float = 0.0,
         s_tmax: float = math.inf, s_noise: float = 1.0):
    """Heun's second-order method (EDM Algorithm 2); 2n - 1 network calls for n steps."""
    g = ctx.grid
    for i in range(g.steps):
        x, lvl, a0, S0 = _churn(ctx, x, i, churn, s_tmin, s_tmax, s_noise)
        a1, S1, s1 = g.a[i + 1], g.ve(i + 1), g.s[i + 1]
        out = ctx.evaluate(x, lvl)
        d0 = ctx.eps(x, out, lvl)
        dS = a1 * (S1 - S0)
        x1 = {k: _step(x[k], a1 / a0, d0[k], dS) for k in x}
        if S1 > 0:
            x1 = ctx.constrain(x1, a1, s1)
            lvl1 = ctx.level(i + 1)
            d1 = ctx.eps(x1, ctx.evaluate(x1, lvl1), lvl1)
            x1 = {k: _step(x[k], a1 / a0, d0[k] + d1[k], 0.5 * dS) for k in x}
        x = ctx.constrain(x1, a1, s1)
        ctx.done(i + 1)
    return x


def _step(x, ratio: float, d, coef: float):
    if ratio == 1.0:
        return x.add(d, alpha=coef)
    return x.mul(ratio).add_(d, alpha=coef)
