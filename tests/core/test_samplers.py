"""Sampler behaviour: every step count, masks, determinism, guidance, EDM contract, NLL."""

from __future__ import annotations

import math

import fick.core as fc
import pytest
import torch
from closed_form import MU, SD, gaussian_x0, mixture_x0, model_for
from fick.core import guidance, likelihood, schedules

VP = schedules.linear()
FLOW = schedules.flow()
ALL = sorted(fc.SAMPLERS)


def _setup(name):
    return (FLOW, "velocity") if name.startswith("flow") else (VP, "epsilon")


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("steps", [1, 2, 3, 7, 1000])
def test_every_step_count_from_1_to_T_is_finite(name, steps):
    proc, pred = _setup(name)
    noise = torch.randn(16, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    seen = []
    out = fc.sample(model_for(proc, pred), noise, proc, sampler=name, steps=steps,
                    prediction=pred, generator=torch.Generator().manual_seed(1),
                    callback=lambda done, total: seen.append((done, total)))
    assert out.dtype == torch.float64 and bool(torch.isfinite(out).all())
    assert seen == [(i, steps) for i in range(1, steps + 1)]


def test_dpmpp_2m_1000_linspace_steps_has_no_nan():
    # diffusers' DPMSolverMultistepScheduler returns NaN here (repeated timesteps give h = 0
    # and a division by zero); ours takes the identity step and drops the order.
    noise = torch.randn(256, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = fc.sample(model_for(VP), noise, VP, sampler="dpmpp-2m", steps=1000, spacing="linspace")
    assert bool(torch.isfinite(out).all())
    assert abs(float(out.std()) / SD - 1) < 0.05


@pytest.mark.parametrize("name", ALL)
def test_deterministic_for_a_generator(name):
    proc, pred = _setup(name)
    noise = torch.randn(8, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    runs = [fc.sample(model_for(proc, pred), noise, proc, sampler=name, steps=5,
                      prediction=pred, generator=torch.Generator().manual_seed(seed))
            for seed in (1, 1, 2)]
    assert torch.equal(runs[0], runs[1])
    stochastic = name in ("ddpm", "euler-ancestral")
    assert torch.equal(runs[0], runs[2]) != stochastic


def _node_state(seed=0):
    index = torch.tensor([0] * 4 + [1] * 6 + [2] * 3)
    spec = fc.StateSpec({"pos": fc.ZeroCoMSpace(), "h": fc.GaussianSpace()},
                        {"pos": index, "h": index}, num_samples=3)
    g = torch.Generator().manual_seed(seed)
    state = {"pos": torch.randn(13, 3, generator=g, dtype=torch.float64),
             "h": torch.randn(13, 5, generator=g, dtype=torch.float64)}
    return spec, index, state


@pytest.mark.parametrize("name", ALL)
def test_masked_parts_are_bit_identical_to_known(name):
    proc, pred = _setup(name)
    spec, index, noise = _node_state(0)
    _, _, known = _node_state(1)
    node_mask = torch.zeros(13, dtype=torch.bool)
    node_mask[[0, 1, 5, 12]] = True

    def model(x, t):
        return {k: 0.3 * v + 0.1 for k, v in x.items()}

    out = fc.sample(model, noise, proc, sampler=name, steps=6, prediction=pred, spec=spec,
                    mask={"pos": node_mask, "h": True}, known=known,
                    generator=torch.Generator().manual_seed(2))
    assert torch.equal(out["pos"][node_mask], known["pos"][node_mask])
    assert torch.equal(out["h"], known["h"])
    assert not torch.equal(out["pos"][~node_mask], known["pos"][~node_mask])
    # dense masks too
    dense_known = torch.randn(4, 6, dtype=torch.float64)
    dense_mask = torch.rand(4, 6, generator=torch.Generator().manual_seed(3)) < 0.5
    out = fc.sample(lambda x, t: 0.5 * x, torch.randn(4, 6, dtype=torch.float64), proc,
                    sampler=name, steps=4, prediction=pred, mask=dense_mask, known=dense_known,
                    generator=torch.Generator().manual_seed(2))
    assert torch.equal(out[dense_mask], dense_known[dense_mask])


def test_zero_com_state_stays_centred_without_masks():
    spec, index, noise = _node_state(0)
    calls = []

    def model(x, t, batch):
        calls.append(batch)
        return {k: 0.3 * v + 1.0 for k, v in x.items()}  # +1 breaks the centre unless projected

    out = fc.sample(model, noise, VP, sampler="dpmpp-2m", steps=5, spec=spec,
                    model_kwargs={"batch": index})
    for b in range(3):
        assert out["pos"][index == b].mean(0).abs().max() < 1e-10
    assert all(c is index for c in calls)


def test_repaint_resampling_keeps_known_and_runs_more_evaluations():
    n_calls = [0]

    def model(x, t):
        n_calls[0] += 1
        return 0.5 * x

    known = torch.ones(2, 4, dtype=torch.float64)
    mask = torch.tensor([[True, False, True, False]] * 2)
    out = fc.sample(model, torch.randn(2, 4, dtype=torch.float64), VP, sampler="ddpm",
                    steps=5, mask=mask, known=known, resample=3,
                    generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[mask], known[mask])
    assert n_calls[0] == 5 * 3 - 2  # the last step does not re-noise


# --------------------------------------------------------------------------------- guidance
def _cond_model(calls):
    def model(x, t, cond, cfg_null, batch=None):
        calls.append(x.shape[0] if isinstance(x, torch.Tensor) else x["pos"].shape[0])
        c = torch.where(cfg_null[:, None], torch.zeros_like(cond), cond)
        if batch is None:
            return 0.2 * x + c
        return {"pos": 0.2 * x["pos"] + c[batch]}

    return model


def test_cfg_scale_one_is_conditional_and_zero_unconditional_in_one_call():
    x = torch.randn(5, 3, dtype=torch.float64)
    t = torch.full((5,), 10.0, dtype=torch.float64)
    cond = torch.randn(5, 1, dtype=torch.float64)
    calls = []
    base = _cond_model([])
    c = base(x, t, cond, torch.zeros(5, dtype=torch.bool))
    u = base(x, t, cond, torch.ones(5, dtype=torch.bool))
    for scale, ref in ((1.0, c), (0.0, u), (3.0, u + 3 * (c - u))):
        g = guidance.classifier_free(_cond_model(calls), scale)
        assert torch.allclose(g(x, t, cond=cond), ref, atol=1e-12)
    assert calls == [10, 10, 10]  # one doubled call each


def test_cfg_doubles_node_level_states_with_an_offset_batch_index():
    index = torch.tensor([0, 0, 1, 1, 1, 2])
    x = {"pos": torch.randn(6, 3, dtype=torch.float64)}
    t = torch.full((3,), 5.0, dtype=torch.float64)
    cond = torch.randn(3, 1, dtype=torch.float64)
    base = _cond_model([])
    c = base(x, t, cond, torch.zeros(3, dtype=torch.bool), batch=index)["pos"]
    u = base(x, t, cond, torch.ones(3, dtype=torch.bool), batch=index)["pos"]
    calls = []
    g = guidance.classifier_free(_cond_model(calls), 2.5)
    out = g(x, t, cond=cond, batch=index)["pos"]
    assert torch.allclose(out, u + 2.5 * (c - u), atol=1e-12) and calls == [12]


def test_cfg_rescale_and_interval():
    x = torch.randn(4, 16, dtype=torch.float64)
    cond = torch.randn(4, 1, dtype=torch.float64)
    base = _cond_model([])
    t = torch.full((4,), 10.0, dtype=torch.float64)
    c = base(x, t, cond, torch.zeros(4, dtype=torch.bool))
    full = guidance.classifier_free(base, 4.0, rescale=1.0)(x, t, cond=cond)
    assert torch.allclose(full.std(1), c.std(1), atol=1e-10)
    calls = []
    outside = guidance.classifier_free(_cond_model(calls), 4.0, interval=(100.0, 500.0))
    assert torch.allclose(outside(x, t, cond=cond), c) and calls == [4]


def test_cfg_inside_sample_matches_manual_guidance():
    cond = torch.randn(6, 1, dtype=torch.float64)
    noise = torch.randn(6, 2, dtype=torch.float64)
    g = guidance.classifier_free(_cond_model([]), 2.0)
    out = fc.sample(g, noise, VP, sampler="ddim", steps=8, model_kwargs={"cond": cond})
    base = _cond_model([])

    def manual(x, t):
        c = base(x, t, cond, torch.zeros(6, dtype=torch.bool))
        u = base(x, t, cond, torch.ones(6, dtype=torch.bool))
        return u + 2.0 * (c - u)

    ref = fc.sample(manual, noise, VP, sampler="ddim", steps=8)
    assert torch.allclose(out, ref, atol=1e-10)


def test_gradient_guidance_pulls_towards_the_target():
    noise = torch.randn(4000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    model = model_for(VP)
    free = fc.sample(model, noise, VP, sampler="ddim", steps=30)
    same = fc.sample(guidance.gradient_guidance(model, lambda x0, t: -x0.sum(1), 0.0,
                                                process=VP), noise, VP, sampler="ddim",
                     steps=30)
    assert torch.allclose(free, same, atol=1e-10)
    pulled = fc.sample(guidance.gradient_guidance(
        model, lambda x0, t: -(x0 - 3.0).square().sum(1), 0.5, process=VP),
        noise, VP, sampler="ddim", steps=30)
    assert float(pulled.mean()) > float(free.mean()) + 0.1


# -------------------------------------------------------------------------------------- EDM
def test_edm_model_contract_closed_form():
    proc = schedules.edm()
    seen = {}

    def model(x_in, c_noise):
        sigma = torch.exp(4 * c_noise).reshape(-1, 1)
        c_skip, c_out, c_in, _ = proc.precondition(sigma)
        x = x_in / c_in
        seen["ok"] = True
        return (gaussian_x0(x, 1.0, sigma) - c_skip * x) / c_out

    noise = torch.randn(20000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = fc.sample(model, noise, proc, sampler="heun", steps=50, prediction="edm")
    assert abs(float(out.mean()) / MU - 1) < 0.02 and abs(float(out.std()) / SD - 1) < 0.02
    out = fc.sample(model, noise, proc, sampler="heun", steps=50, prediction="edm", churn=10.0,
                    generator=torch.Generator().manual_seed(0))
    assert abs(float(out.mean()) / MU - 1) < 0.02 and abs(float(out.std()) / SD - 1) < 0.03


# ------------------------------------------------------------------------------- likelihood
def _exact_nll(x, s_min, means, sds, weights):
    logp = []
    for m, sd, w in zip(means, sds, weights):
        var = sd**2 + s_min**2
        logp.append(math.log(w) - 0.5 * (x - m) ** 2 / var - 0.5 * math.log(2 * math.pi * var))
    return -torch.logsumexp(torch.stack(logp), 0).sum(1)


@pytest.mark.parametrize("kind", ["gaussian", "mixture"])
def test_nll_matches_the_exact_density(kind):
    if kind == "gaussian":
        means, sds, weights = (MU,), (SD,), (1.0,)
        x0_fn = gaussian_x0
    else:
        means, sds, weights = (-1.0, 2.0), (0.3, 0.5), (0.3, 0.7)

        def x0_fn(x, a, s):
            return mixture_x0(x, a, s, means, sds, weights)

    g = torch.Generator().manual_seed(0)
    comp = torch.multinomial(torch.tensor(weights), 256 * 2, replacement=True, generator=g)
    comp = comp.reshape(256, 2)
    x = (torch.tensor(means, dtype=torch.float64)[comp]
         + torch.tensor(sds, dtype=torch.float64)[comp]
         * torch.randn(256, 2, generator=g, dtype=torch.float64))
    out = likelihood.nll(model_for(VP, "epsilon", x0_fn), x, VP, steps=24,
                         generator=torch.Generator().manual_seed(1))
    s_min = VP.ve_sigma_range()[0]
    exact = _exact_nll(x, s_min, means, sds, weights)
    assert abs(float(out.nats.mean()) / float(exact.mean()) - 1) < 0.02
    assert torch.allclose(out.bits_per_dim, out.nats / (2 * math.log(2)))


def test_cfg_shared_kwargs_are_not_doubled():
    table = torch.randn(7, 1, dtype=torch.float64)
    shapes = []

    def model(x, t, cond, table, cfg_null):
        shapes.append((x.shape[0], cond.shape[0], table.shape[0]))
        return x + torch.where(cfg_null[:, None], 0.0, cond) + table[0]

    g = guidance.classifier_free(model, 2.0, shared_kwargs=("table",))
    x = torch.randn(3, 2, dtype=torch.float64)
    g(x, torch.zeros(3), cond=torch.ones(3, 1, dtype=torch.float64), table=table)
    assert shapes == [(6, 6, 7)]
