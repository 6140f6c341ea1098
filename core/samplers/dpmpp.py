"""DPM-Solver++ multistep, orders 2 and 3 (Lu et al. 2022), data-prediction form.

With lambda = log(alpha / sigma), h = lambda_next - lambda_now and the denoised history
m0 (now), m1, m2 (previous levels), r_k = h_k / h:

  order 1: x' = (s'/s) x - a' (e^-h - 1) m0                       (= DDIM)
  order 2: ... - a'/2 (e^-h - 1) D1,  D1 = (m0 - m1) / r0          (midpoint form)
  order 3: ... + a' ((e^-h - 1)/h + 1) D1 - a' ((e^-h - 1 + h)/h^2 - 1/2) D2

Lower orders as diffusers: the first steps warm up, the last step is first order (it lands on
sigma = 0), and the second-to-last is at most second order below 15 steps. Unlike diffusers,
a step whose history is degenerate (repeated levels: h or h_k = 0, or infinite) drops to the
order it can take, so no step count gives NaN. Coefficients are precomputed in float64.
"""

from __future__ import annotations

import math

from .base import SamplerContext

__all__ = ["dpmpp_2m", "dpmpp_3m", "dpmpp_coefficients"]


def _lam(a: float, s: float) -> float:
    if s == 0.0:
        return math.inf
    if a == 0.0:
        return -math.inf
    return math.log(a) - math.log(s)


def _ok(v: float) -> bool:
    return math.isfinite(v) and v > 0.0


def dpmpp_coefficients(a: list[float], s: list[float], order: int) -> list[tuple]:
    """Per step: (cx, [c_m0, c_m1, c_m2]) with x' = cx x + sum c_mk m_k."""
    n = len(a) - 1
    lam = [_lam(ai, si) for ai, si in zip(a, s)]
    table = []
    for i in range(n):
        a_t, s_t = a[i + 1], s[i + 1]
        h = lam[i + 1] - lam[i]
        cx = s_t / s[i]
        if h == 0.0:  # repeated level: the exact solution is the identity
            table.append((1.0, [0.0, 0.0, 0.0]))
            continue
        em = -1.0 if h == math.inf else math.expm1(-h)  # e^-h - 1
        want = min(order, i + 1)
        if i == n - 1:
            want = 1
        elif i == n - 2 and n < 15:
            want = min(want, 2)
        h0 = lam[i] - lam[i - 1] if i >= 1 else math.nan
        h1 = lam[i - 1] - lam[i - 2] if i >= 2 else math.nan
        if want >= 3 and not (_ok(h) and _ok(h0) and _ok(h1)):
            want = 2
        if want >= 2 and not (_ok(h) and _ok(h0)):
            want = 1
        c = [-a_t * em, 0.0, 0.0]
        if want == 2:
            k = -0.5 * a_t * em * (h / h0)  # coefficient of (m0 - m1)
            c = [c[0] + k, -k, 0.0]
        elif want == 3:
            r0, r1 = h0 / h, h1 / h
            d10 = [1 / r0, -1 / r0, 0.0]
            d11 = [0.0, 1 / r1, -1 / r1]
            kk = r0 / (r0 + r1)
            d1 = [(1 + kk) * p - kk * q for p, q in zip(d10, d11)]
            d2 = [(p - q) / (r0 + r1) for p, q in zip(d10, d11)]
            c_d1 = a_t * (em / h + 1.0)
            c_d2 = -a_t * ((em + h) / (h * h) - 0.5)
            c = [c[m] + c_d1 * d1[m] + c_d2 * d2[m] for m in range(3)]
        table.append((cx, c))
    return table


def _multistep(ctx: SamplerContext, x, order: int):
    g = ctx.grid
    table = dpmpp_coefficients(g.a, g.s, order)
    history: list = []
    for i in range(g.steps):
        lvl = ctx.level(i)
        out = ctx.evaluate(x, lvl)
        m0 = ctx.x0(x, out, lvl)
        history = [m0] + history[: order - 1]
        cx, c = table[i]
        new = {}
        for k in x:
            acc = x[k] * cx if cx != 1.0 else x[k].clone()
            for m, coef in enumerate(c[: len(history)]):
                if coef != 0.0:
                    acc.add_(history[m][k], alpha=coef)
            new[k] = acc
        x = ctx.constrain(new, g.a[i + 1], g.s[i + 1])
        ctx.done(i + 1)
    return x


def dpmpp_2m(ctx: SamplerContext, x):
    """DPM-Solver++(2M) (diffusers' DPMSolverMultistepScheduler, order 2, midpoint)."""
    return _multistep(ctx, x, 2)


def dpmpp_3m(ctx: SamplerContext, x):
    """DPM-Solver++(3M) (diffusers' DPMSolverMultistepScheduler, order 3)."""
    return _multistep(ctx, x, 3)
