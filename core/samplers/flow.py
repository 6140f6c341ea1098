"""ODE samplers for flow matching: dx/dt = u(x, t), integrated from t = 1 (noise) to 0.

Euler is diffusers' FlowMatchEulerDiscreteScheduler (x' = x + (t' - t) u); Heun evaluates
again at t' except on the last step (to t = 0); midpoint evaluates at (t + t') / 2.
"""

from __future__ import annotations

from .base import SamplerContext

__all__ = ["flow_euler", "flow_heun", "flow_midpoint"]


def _velocity(ctx: SamplerContext, x, out, lvl):
    """u = eps - x0 from the model output (the output itself for velocity prediction)."""
    if ctx.prediction == "velocity" and ctx.clip is None:
        return out
    x0, eps = ctx.x0(x, out, lvl), ctx.eps(x, out, lvl)
    return {k: eps[k] - x0[k] for k in x}


def _move(x, u, dt: float):
    return {k: x[k].add(u[k], alpha=dt) for k in x}


def flow_euler(ctx: SamplerContext, x):
    """Explicit Euler in t."""
    g = ctx.grid
    for i in range(g.steps):
        lvl = ctx.level(i)
        u = _velocity(ctx, x, ctx.evaluate(x, lvl), lvl)
        x = ctx.constrain(_move(x, u, g.t[i + 1] - g.t[i]), g.a[i + 1], g.s[i + 1])
        ctx.done(i + 1)
    return x


def flow_heun(ctx: SamplerContext, x):
    """Heun (trapezoidal predictor-corrector); the last step to t = 0 is Euler."""
    g = ctx.grid
    for i in range(g.steps):
        dt = g.t[i + 1] - g.t[i]
        lvl = ctx.level(i)
        u0 = _velocity(ctx, x, ctx.evaluate(x, lvl), lvl)
        x1 = ctx.constrain(_move(x, u0, dt), g.a[i + 1], g.s[i + 1])
        if g.t[i + 1] > 0:
            lvl1 = ctx.level(i + 1)
            u1 = _velocity(ctx, x1, ctx.evaluate(x1, lvl1), lvl1)
            x1 = ctx.constrain(_move(x, {k: u0[k] + u1[k] for k in x}, 0.5 * dt),
                               g.a[i + 1], g.s[i + 1])
        x = x1
        ctx.done(i + 1)
    return x


def flow_midpoint(ctx: SamplerContext, x):
    """Explicit midpoint rule: two evaluations per step."""
    g = ctx.grid
    for i in range(g.steps):
        t0, t1 = g.t[i], g.t[i + 1]
        dt = t1 - t0
        lvl = ctx.level(i)
        u0 = _velocity(ctx, x, ctx.evaluate(x, lvl), lvl)
        tm = 0.5 * (t0 + t1)
        xm = ctx.constrain(_move(x, u0, 0.5 * dt), 1 - tm, tm)
        lvm = ctx.make_level(tm, 1 - tm, tm)
        um = _velocity(ctx, xm, ctx.evaluate(xm, lvm), lvm)
        x = ctx.constrain(_move(x, um, dt), g.a[i + 1], g.s[i + 1])
        ctx.done(i + 1)
    return x
