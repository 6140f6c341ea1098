"""Closed-form denoisers used as independent truths by the core tests.

For data x0 ~ N(mu, s^2 I), E[x0 | x_t] = mu + a s^2 / (a^2 s^2 + sigma^2) (x_t - a mu);
for a mixture of Gaussians the posterior mean mixes the components' posterior means with
their posterior responsibilities.
"""

from __future__ import annotations

import math

import torch

MU, SD = 1.5, 0.5


def _bcast(v, x):
    return v.to(x.dtype).reshape(-1, *[1] * (x.dim() - 1))


def gaussian_x0(x, a, s, mu=MU, sd=SD):
    return mu + a * sd**2 / (a**2 * sd**2 + s**2) * (x - a * mu)


def mixture_x0(x, a, s, means, sds, weights):
    """Posterior mean under sum_k w_k N(m_k, sd_k^2) (elementwise, independent dims)."""
    logps, posts = [], []
    for m, sd, w in zip(means, sds, weights):
        var = a**2 * sd**2 + s**2
        logps.append(math.log(w) - 0.5 * (x - a * m) ** 2 / var - 0.5 * torch.log(var))
        posts.append(gaussian_x0(x, a, s, m, sd))
    r = torch.softmax(torch.stack(logps), 0)
    return (r * torch.stack(posts)).sum(0)


def convert(x0, x, a, s, prediction):
    eps = (x - a * x0) / s
    return {"epsilon": eps, "x0": x0, "v": a * eps - s * x0, "velocity": eps - x0}[prediction]


def model_for(process, prediction="epsilon", x0_fn=gaussian_x0, time_scale=1.0):
    """model(x_t, t) -> prediction, for the given process; ``time_scale`` rescales diffusers'
    timesteps (flow: t * T)."""

    def model(x, t):
        t = torch.as_tensor(t, dtype=torch.float64).reshape(-1) / time_scale
        if t.numel() > 1 and bool((t == t[0]).all()):
            t = t[:1]  # one level for the whole batch (sampling): compute it once
        a, s = _bcast(process.alpha(t), x), _bcast(process.sigma(t), x)
        return convert(x0_fn(x, a, s), x, a, s, prediction)

    return model
