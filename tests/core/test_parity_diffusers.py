"""Full sampling loops against diffusers' schedulers (float64, same model, noise, generator).

The model is the closed-form Gaussian denoiser, so both libraries integrate the same ODE/SDE;
the tolerance (1e-5 max abs) covers diffusers' float32 sigma tables and upcasts.
"""

from __future__ import annotations

import inspect
import math

import diffusers  # a dev dependency (make test installs it): a missing one fails, never skips
import fick.core as fc
import pytest
import torch
from closed_form import model_for
from fick.core import schedules

# diffusers' own numpy-2 deprecation warnings, not ours
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

STEPS = (10, 25, 50)
SPACINGS = ("leading", "trailing", "linspace")
TOL = 1e-5


def _noise(shape=(64, 3), seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _float64_tables(sched, process):
    """Give diffusers our float64 schedule (it builds float32 tables), so the comparison
    measures the samplers, not table rounding."""
    abar = process.alphas_cumprod
    sched.betas, sched.alphas, sched.alphas_cumprod = process.betas, 1 - process.betas, abar
    if hasattr(sched, "lambda_t"):
        sched.alpha_t, sched.sigma_t = abar.sqrt(), (1 - abar).sqrt()
        sched.lambda_t = torch.log(sched.alpha_t) - torch.log(sched.sigma_t)


def _run_diffusers(sched, model, noise, steps, seed=1, step_kwargs=None, process=None):
    if process is not None and hasattr(sched, "alphas_cumprod"):
        _float64_tables(sched, process)
    sched.set_timesteps(steps)
    gen = torch.Generator().manual_seed(seed)
    x = noise * getattr(sched, "init_noise_sigma", 1.0)
    for t in sched.timesteps:
        xin = sched.scale_model_input(x, t) if hasattr(sched, "scale_model_input") else x
        out = model(xin, torch.full((x.shape[0],), float(t), dtype=torch.float64))
        kw = dict(step_kwargs or {})
        if "generator" in inspect.signature(sched.step).parameters:
            kw["generator"] = gen
        x = sched.step(out, t, x, **kw).prev_sample
    return x


def _run_ours(process, sampler, steps, noise, prediction="epsilon", seed=1, **kw):
    model = model_for(process, prediction)
    return fc.sample(model, noise, process, sampler=sampler, steps=steps, prediction=prediction,
                     generator=torch.Generator().manual_seed(seed), **kw)


PRED_D = {"epsilon": "epsilon", "v": "v_prediction", "x0": "sample"}


@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_ddpm(steps, spacing, prediction):
    proc = schedules.linear()
    sched = diffusers.DDPMScheduler(timestep_spacing=spacing, clip_sample=False,
                                    prediction_type=PRED_D[prediction])
    noise = _noise()
    ref = _run_diffusers(sched, model_for(proc, prediction), noise, steps, process=proc)
    ours = _run_ours(proc, "ddpm", steps, noise, prediction, spacing=spacing)
    assert (ours - ref).abs().max() <= TOL


@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_leading(steps, eta):
    proc = schedules.linear()
    sched = diffusers.DDIMScheduler(timestep_spacing="leading", clip_sample=False)
    noise = _noise()
    ref = _run_diffusers(sched, model_for(proc), noise, steps, step_kwargs={"eta": eta},
                         process=proc)
    ours = _run_ours(proc, "ddim", steps, noise, spacing="leading", eta=eta)
    assert (ours - ref).abs().max() <= TOL


def _ddim_paper(model, noise, timesteps, abar, eta, seed):
    """Song et al. 2021, eq. 12, stepping to the NEXT timestep of the list (the paper's rule).

    diffusers' DDIMScheduler steps to t - T // n instead, which is only right for leading
    spacing (a known diffusers issue), so trailing / linspace are checked against this.
    """
    gen = torch.Generator().manual_seed(seed)
    x = noise.clone()
    ts = [int(t) for t in timesteps]
    for i, t in enumerate(ts):
        ab_t = float(abar[t])
        ab_p = float(abar[ts[i + 1]]) if i + 1 < len(ts) else 1.0
        eps = model(x, torch.full((x.shape[0],), float(t), dtype=torch.float64))
        x0 = (x - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)
        std = eta * math.sqrt((1 - ab_p) / (1 - ab_t) * (1 - ab_t / ab_p))
        x = math.sqrt(ab_p) * x0 + math.sqrt(max(1 - ab_p - std**2, 0.0)) * eps
        if eta > 0:
            x = x + std * torch.randn(x.shape, generator=gen, dtype=x.dtype)
    return x


@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("spacing", ["trailing", "linspace"])
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_other_spacings_follow_the_paper(steps, spacing, eta):
    proc = schedules.linear()
    sched = diffusers.DDIMScheduler(timestep_spacing=spacing)
    sched.set_timesteps(steps)  # diffusers' timestep list, the paper's update
    noise = _noise()
    ref = _ddim_paper(model_for(proc), noise, sched.timesteps, proc.alphas_cumprod, eta, 1)
    ours = _run_ours(proc, "ddim", steps, noise, spacing=spacing, eta=eta)
    assert (ours - ref).abs().max() <= TOL


@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("karras", [False, True])
@pytest.mark.parametrize("order", [2, 3])
def test_dpmpp(steps, spacing, karras, order):
    proc = schedules.linear()
    sched = diffusers.DPMSolverMultistepScheduler(
        algorithm_type="dpmsolver++", solver_order=order, timestep_spacing=spacing,
        use_karras_sigmas=karras)
    noise = _noise()
    ref = _run_diffusers(sched, model_for(proc), noise, steps, process=proc)
    ours = _run_ours(proc, f"dpmpp-{order}m", steps, noise, spacing=spacing, karras=karras)
    assert (ours - ref).abs().max() <= TOL


@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("karras", [False, True])
@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_euler(steps, spacing, karras, prediction):
    proc = schedules.linear()
    sched = diffusers.EulerDiscreteScheduler(timestep_spacing=spacing, use_karras_sigmas=karras,
                                             prediction_type=PRED_D[prediction])
    noise = _noise()
    ref = _run_diffusers(sched, model_for(proc, prediction), noise, steps, process=proc)
    ours = _run_ours(proc, "euler", steps, noise, prediction, spacing=spacing, karras=karras)
    assert (ours - ref).abs().max() <= TOL


@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("spacing", SPACINGS)
def test_euler_ancestral(steps, spacing):
    proc = schedules.linear()
    sched = diffusers.EulerAncestralDiscreteScheduler(timestep_spacing=spacing)
    noise = _noise()
    ref = _run_diffusers(sched, model_for(proc), noise, steps, process=proc)
    ours = _run_ours(proc, "euler-ancestral", steps, noise, spacing=spacing)
    assert (ours - ref).abs().max() <= TOL


@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("karras", [False, True])
def test_heun(steps, spacing, karras):
    proc = schedules.linear()
    sched = diffusers.HeunDiscreteScheduler(timestep_spacing=spacing, use_karras_sigmas=karras)
    noise = _noise()
    ref = _run_diffusers(sched, model_for(proc), noise, steps, process=proc)
    ours = _run_ours(proc, "heun", steps, noise, spacing=spacing, karras=karras)
    assert (ours - ref).abs().max() <= TOL


@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_flow_match_euler(steps, shift):
    proc = schedules.flow(shift=shift)
    sched = diffusers.FlowMatchEulerDiscreteScheduler(shift=shift)
    noise = _noise()
    ref = _run_diffusers(sched, model_for(proc, "velocity", time_scale=1000.0), noise, steps)
    ours = _run_ours(proc, "flow-euler", steps, noise, "velocity")
    assert (ours - ref).abs().max() <= TOL


@pytest.mark.parametrize("name", ["linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid"])
def test_training_targets_match_add_noise_and_get_velocity(name):
    proc = schedules.by_name(name)
    ends = {"beta_start": 0.00085, "beta_end": 0.012} if name == "scaled_linear" else {}
    sched = diffusers.DDPMScheduler(beta_schedule=name, **ends)
    assert torch.allclose(proc.alphas_cumprod, sched.alphas_cumprod.double(), rtol=1e-5,
                          atol=1e-7)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(16, 4, generator=g, dtype=torch.float64)
    eps = torch.randn(16, 4, generator=g, dtype=torch.float64)
    t = torch.randint(0, 1000, (16,), generator=g)
    for pred, ref in (("epsilon", eps), ("v", sched.get_velocity(x0, eps, t))):
        seen = {}

        def model(x, tt, seen=seen):
            seen["x"] = x
            return torch.zeros_like(x)

        out = fc.training_loss(model, x0, proc, prediction=pred, t=t.double(), noise=eps)
        assert torch.allclose(seen["x"], sched.add_noise(x0, eps, t), atol=1e-6)
        # with a zero prediction the loss is the mean squared target
        assert torch.allclose(out.loss, ref.square().mean(1), rtol=1e-5)
