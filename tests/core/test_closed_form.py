"""Samplers against closed forms: Gaussian data N(mu, s^2) and a two-component mixture.

With the exact denoiser the only errors are discretisation and the prior at T, so moments
must converge to the data's (20,000 samples, mu 1.5, s 0.5, linear betas, T = 1000).
"""

from __future__ import annotations

import fick.core as fc
import pytest
import torch
from closed_form import MU, SD, mixture_x0, model_for
from fick.core import schedules

N = 20_000
VP = schedules.linear()
FLOW = schedules.flow()
ALL = ["ddpm", "ddim", "dpmpp-2m", "dpmpp-3m", "euler", "euler-ancestral", "heun",
       "flow-euler", "flow-heun", "flow-midpoint"]
SECOND_ORDER = ["dpmpp-2m", "dpmpp-3m", "heun", "flow-heun", "flow-midpoint"]
FIRST_ORDER = ["ddpm", "ddim", "euler", "euler-ancestral", "flow-euler"]
MEANS, SDS, WEIGHTS = (-1.0, 2.0), (0.3, 0.5), (0.3, 0.7)


def _mixture(x, a, s):
    return mixture_x0(x, a, s, MEANS, SDS, WEIGHTS)


def _noise():
    return torch.randn(N, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def _draw(name, steps, x0_fn=None):
    proc, pred = (FLOW, "velocity") if name.startswith("flow") else (VP, "epsilon")
    model = model_for(proc, pred) if x0_fn is None else model_for(proc, pred, x0_fn)
    return fc.sample(model, _noise(), proc, sampler=name, steps=steps, prediction=pred,
                     generator=torch.Generator().manual_seed(1))


def _rel_err(out):
    return abs(float(out.mean()) / MU - 1), abs(float(out.std()) / SD - 1)


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_second_order_and_multistep_within_2_percent_at_50_steps(name):
    mean_err, std_err = _rel_err(_draw(name, 50))
    assert mean_err < 0.02 and std_err < 0.02


@pytest.mark.parametrize("name", ALL)
def test_every_sampler_within_2_percent_at_1000_steps(name):
    mean_err, std_err = _rel_err(_draw(name, 1000))
    assert mean_err < 0.02 and std_err < 0.02


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_first_order_convergence(name):
    # The std error shrinks like 1/steps: at 200 steps about a quarter of the error at 50.
    # The 50-step error must be large enough to measure above the 20,000-sample noise.
    e50 = _rel_err(_draw(name, 50))[1]
    e200 = _rel_err(_draw(name, 200))[1]
    assert e50 > 0.015
    assert e200 <= 0.3 * e50


@pytest.mark.parametrize("name", ALL)
def test_mixture_mode_weights(name):
    out = _draw(name, 50, _mixture)
    high, low = out[out > 0.5], out[out <= 0.5]
    assert abs(high.numel() / N - WEIGHTS[1]) < 0.02
    # each mode keeps its own centre and width
    assert abs(float(low.mean()) - MEANS[0]) < 0.05 and abs(float(high.mean()) - MEANS[1]) < 0.05
    assert abs(float(low.std()) / SDS[0] - 1) < 0.15 and abs(float(high.std()) / SDS[1] - 1) < 0.15
