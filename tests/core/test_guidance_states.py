"""Guidance over structured states against independent truths: node-level CFG equals dense CFG
applied to each graph alone (rescale and interval included), rescale keeps each sample's std,
gradient guidance with the exact Gaussian likelihood gives Bayes' conditional score, and
inpainting holds node rows on their noised known values at every step."""

from __future__ import annotations

import fick.core as fc
import pytest
import torch
from closed_form import MU, SD, gaussian_x0
from fick.core import guidance, schedules
from fick.core.parameterization import to_x0_eps

VP = schedules.linear()
FLOW = schedules.flow()
COUNTS = (4, 7)
PAIRS = (3, 5)  # rows of an edge-level component per graph


def _net(x, t, *, cond, cfg_null, batch, pair_batch, calls=None):
    """A node-level network whose output depends nonlinearly on the state, the time and a
    per-graph condition (dropped where cfg_null); node and pair rows see their own graph."""
    if calls is not None:
        calls.append(int(t.shape[0]))
    c = torch.where(cfg_null[:, None], torch.zeros_like(cond), cond)
    tt = (t / 1000.0)[:, None]
    return {"pos": torch.tanh(x["pos"]) * (1 + c[batch]) + tt[batch] * c[batch],
            "h": x["h"] * c[batch].sin() + torch.cos(x["h"]) * tt[batch],
            "e": x["e"] ** 2 * c[pair_batch] - tt[pair_batch]}


def _dense_net(x, t, *, cond, cfg_null):
    """The same network on dense states of single graphs: components (B, rows, F)."""
    outs = []
    for b in range(t.shape[0]):
        one = {k: v[b] for k, v in x.items()}
        zeros = torch.zeros(one["pos"].shape[0], dtype=torch.long)
        pz = torch.zeros(one["e"].shape[0], dtype=torch.long)
        outs.append(_net(one, t[b:b + 1], cond=cond[b:b + 1], cfg_null=cfg_null[b:b + 1],
                         batch=zeros, pair_batch=pz))
    return {k: torch.stack([o[k] for o in outs]) for k in outs[0]}


def _graphs(seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    batch = torch.cat([torch.full((n,), i) for i, n in enumerate(COUNTS)])
    pair_batch = torch.cat([torch.full((n,), i) for i, n in enumerate(PAIRS)])
    x = {"pos": torch.randn(sum(COUNTS), 3, generator=g, dtype=dtype),
         "h": torch.randn(sum(COUNTS), 5, generator=g, dtype=dtype),
         "e": torch.randn(sum(PAIRS), 2, generator=g, dtype=dtype)}
    cond = torch.randn(2, 1, generator=g, dtype=dtype)
    spec = fc.StateSpec(index={"pos": batch, "h": batch, "e": pair_batch}, num_samples=2)
    return x, cond, batch, pair_batch, spec


def _rows(x, batch, pair_batch, i):
    return {k: v[(pair_batch if k == "e" else batch) == i] for k, v in x.items()}


@pytest.mark.parametrize("scale,rescale", [(1.0, 0.0), (3.0, 0.0), (3.0, 0.7), (0.0, 1.0)])
def test_node_level_cfg_equals_dense_cfg_on_each_graph(scale, rescale):
    x, cond, batch, pair_batch, spec = _graphs()
    t = torch.tensor([250.0, 600.0], dtype=torch.float64)
    node = guidance.classifier_free(_net, scale, rescale=rescale, spec=spec,
                                    index_kwargs=("batch", "pair_batch"))
    got = node(x, t, cond=cond, batch=batch, pair_batch=pair_batch)
    dense = guidance.classifier_free(_dense_net, scale, rescale=rescale)
    for i in range(2):
        one = {k: v[None] for k, v in _rows(x, batch, pair_batch, i).items()}
        want = dense(one, t[i:i + 1], cond=cond[i:i + 1])
        for k, v in _rows(got, batch, pair_batch, i).items():
            torch.testing.assert_close(v, want[k][0], rtol=1e-12, atol=1e-12)


def test_cfg_scale_one_is_the_conditional_prediction_of_node_states():
    x, cond, batch, pair_batch, spec = _graphs(1)
    t = torch.tensor([100.0, 900.0], dtype=torch.float64)
    c = _net(x, t, cond=cond, cfg_null=torch.zeros(2, dtype=torch.bool), batch=batch,
             pair_batch=pair_batch)
    calls = []
    g = guidance.classifier_free(lambda *a, **k: _net(*a, **k, calls=calls), 1.0, spec=spec,
                                 index_kwargs=("batch", "pair_batch"))
    out = g(x, t, cond=cond, batch=batch, pair_batch=pair_batch)
    for k in c:
        torch.testing.assert_close(out[k], c[k], rtol=0, atol=1e-14)
    assert calls == [4]  # one call on the doubled batch


def test_rescale_gives_the_conditional_std_of_each_graph():
    x, cond, batch, pair_batch, spec = _graphs(2)
    t = torch.tensor([400.0, 700.0], dtype=torch.float64)
    null = torch.zeros(2, dtype=torch.bool)
    c = _net(x, t, cond=cond, cfg_null=null, batch=batch, pair_batch=pair_batch)
    plain = guidance.classifier_free(_net, 5.0, spec=spec, index_kwargs=("batch", "pair_batch"))
    full = guidance.classifier_free(_net, 5.0, rescale=1.0, spec=spec,
                                    index_kwargs=("batch", "pair_batch"))
    kw = dict(cond=cond, batch=batch, pair_batch=pair_batch)
    g0, g1 = plain(x, t, **kw), full(x, t, **kw)
    for i in range(2):
        ci, p, r = (_rows(s, batch, pair_batch, i) for s in (c, g0, g1))
        for k in ci:
            assert abs(float(r[k].std()) - float(ci[k].std())) < 1e-10
            # the direction is kept: the rescaled output is the guided one times a constant
            ratio = float(ci[k].std() / p[k].std())
            torch.testing.assert_close(r[k], p[k] * ratio, rtol=1e-10, atol=1e-12)


def test_interval_calls_the_conditional_model_alone_outside_it():
    x, cond, batch, pair_batch, spec = _graphs(3)
    kw = dict(cond=cond, batch=batch, pair_batch=pair_batch)
    calls = []
    g = guidance.classifier_free(lambda *a, **k: _net(*a, **k, calls=calls), 4.0, spec=spec,
                                 interval=(200.0, 500.0), index_kwargs=("batch", "pair_batch"))
    outside = torch.tensor([600.0, 600.0], dtype=torch.float64)
    c = _net(x, outside, cfg_null=torch.zeros(2, dtype=torch.bool), **kw)
    got = g(x, outside, **kw)
    assert all(torch.equal(got[k], c[k]) for k in c) and calls == [2]
    inside = torch.tensor([300.0, 300.0], dtype=torch.float64)
    full = guidance.classifier_free(_net, 4.0, index_kwargs=("batch", "pair_batch"))(
        x, inside, **kw)
    got = g(x, inside, **kw)
    assert all(torch.equal(got[k], full[k]) for k in c) and calls == [2, 4]


def test_doublers_and_state_keywords_are_doubled():
    seen = {}

    def model(x, t, *, graph, prev, cfg_null):
        seen.update(graph=graph, prev=prev)
        return {"pos": x["pos"] + prev["pos"] * (~cfg_null).to(x["pos"].dtype)[graph[0], None]}

    batch = torch.tensor([0, 0, 1])
    x = {"pos": torch.randn(3, 2, dtype=torch.float64)}
    prev = {"pos": torch.randn(3, 2, dtype=torch.float64)}
    g = guidance.classifier_free(model, 2.0, doublers={"graph": lambda gr: (
        torch.cat([gr[0], gr[0] + 2]), 2 * gr[1])})
    out = g(x, torch.zeros(2), graph=(batch, 2), prev=prev)
    assert torch.equal(seen["graph"][0], torch.tensor([0, 0, 1, 2, 2, 3]))
    assert seen["graph"][1] == 4 and seen["prev"]["pos"].shape == (6, 2)
    torch.testing.assert_close(out["pos"], x["pos"] + 2.0 * prev["pos"])


def test_rescale_refuses_a_node_component_without_its_index():
    x, cond, batch, pair_batch, _ = _graphs()
    g = guidance.classifier_free(_net, 2.0, rescale=0.5, index_kwargs=("batch", "pair_batch"))
    with pytest.raises(fc.FickError, match="'e' has 8 rows for 2 samples"):
        g(x, torch.zeros(2, dtype=torch.float64), cond=cond, batch=batch, pair_batch=pair_batch)


# ------------------------------------------------------------------------ gradient guidance
Y, TAU = 2.5, 0.4  # an observation y ~ N(x0, TAU^2) of every coordinate


def _post_var(a, s):
    """Var(x0 | x_t) for x0 ~ N(MU, SD^2)."""
    return SD**2 * s**2 / (a**2 * SD**2 + s**2)


def _exact_log_lik(process):
    """log p(y | x_t) = log N(y; x0_hat(x_t), TAU^2 + Var(x0 | x_t)), as a function of x0_hat:
    exact for Gaussian data and a Gaussian observation (no DPS approximation)."""

    def fn(x0_hat, t):
        x0 = x0_hat["pos"] if isinstance(x0_hat, dict) else x0_hat
        t = torch.as_tensor(t, dtype=torch.float64).reshape(-1)
        a, s = process.alpha(t), process.sigma(t)
        var = (TAU**2 + _post_var(a, s))
        if isinstance(x0_hat, dict):
            var = var[x0_hat["index"]] if "index" in x0_hat else var
        return -((Y - x0) ** 2).sum(-1) / (2 * var)

    return fn


def _bayes_score(x, a, s):
    """grad log p_t(x | y): x0 | y ~ N(mu', sd'^2), so x_t | y ~ N(a mu', a^2 sd'^2 + s^2)."""
    mu = (MU * TAU**2 + Y * SD**2) / (SD**2 + TAU**2)
    var = SD**2 * TAU**2 / (SD**2 + TAU**2)
    return -(x - a * mu) / (a**2 * var + s**2)


def _closed_model(process, prediction):
    def model(x, t):
        t = torch.as_tensor(t, dtype=torch.float64).reshape(-1, 1)
        a, s = process.alpha(t), process.sigma(t)
        x0 = gaussian_x0(x, a, s)
        eps = (x - a * x0) / s
        return {"epsilon": eps, "x0": x0, "v": a * eps - s * x0, "velocity": eps - x0}[
            prediction]

    return model


@pytest.mark.parametrize("process,prediction", [(VP, "epsilon"), (VP, "x0"), (VP, "v"),
                                                (FLOW, "velocity"), (FLOW, "x0")])
def test_gradient_guidance_with_the_exact_likelihood_is_the_bayes_score(process, prediction):
    x = torch.randn(6, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
    t = (torch.tensor([100.0, 300, 500, 700, 850, 950], dtype=torch.float64)
         if process is VP else torch.tensor([0.1, 0.3, 0.5, 0.6, 0.8, 0.9], dtype=torch.float64))
    fn = _exact_log_lik(process)
    guided = guidance.gradient_guidance(_closed_model(process, prediction),
                                        lambda x0, tt: fn(x0, tt), 1.0, process=process,
                                        prediction=prediction)(x, t)
    a, s = process.alpha(t)[:, None], process.sigma(t)[:, None]
    _, eps = to_x0_eps(guided, x, a, s, prediction)
    torch.testing.assert_close(-eps / s, _bayes_score(x, a, s), rtol=1e-9, atol=1e-9)


def test_node_level_gradient_guidance_equals_dense_per_graph():
    batch = torch.tensor([0, 0, 0, 1, 1])
    spec = fc.StateSpec(index={"pos": batch}, num_samples=2)
    x = {"pos": torch.randn(5, 3, generator=torch.Generator().manual_seed(1),
                            dtype=torch.float64)}
    t = torch.tensor([200.0, 800.0], dtype=torch.float64)
    base = _closed_model(VP, "epsilon")

    def node_model(state, tt):
        return {"pos": base(state["pos"], tt[batch])}

    def node_fn(x0, tt):
        per_node = _exact_log_lik(VP)({"pos": x0["pos"], "index": batch}, tt)
        return torch.zeros(2, dtype=per_node.dtype).index_add(0, batch, per_node)

    got = guidance.gradient_guidance(node_model, node_fn, 1.7, process=VP, spec=spec)(x, t)
    dense = guidance.gradient_guidance(
        lambda s, tt: {"pos": base(s["pos"][0], tt.expand(s["pos"].shape[1]))[None]},
        lambda x0, tt: _exact_log_lik(VP)(x0["pos"][0], tt.expand(x0["pos"].shape[1])).sum()
        .reshape(1), 1.7, process=VP)
    for i in range(2):
        want = dense({"pos": x["pos"][batch == i][None]}, t[i:i + 1])["pos"][0]
        torch.testing.assert_close(got["pos"][batch == i], want, rtol=1e-12, atol=1e-12)
    with pytest.raises(fc.FickError, match="5 rows for 2 samples"):
        guidance.gradient_guidance(node_model, node_fn, 1.0, process=VP)(x, t)


def test_alpha_min_bounds_the_step_where_alpha_is_zero():
    x = torch.randn(3, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    t = torch.tensor([1.0, 0.99, 0.5], dtype=torch.float64)  # flow: alpha = 1 - t

    def model(x, tt):
        return 0.5 * x  # x0 prediction

    fn = lambda x0, tt: -(x0 - 3.0).square().sum(1)  # noqa: E731  grad_x = -2 (x0 - 3) 0.5
    out = guidance.gradient_guidance(model, fn, 2.0, process=FLOW, prediction="x0",
                                     alpha_min=0.05)(x, t)
    a, s = (1 - t)[:, None], t[:, None]
    grad = -(0.5 * x - 3.0)
    want = 0.5 * x + 2.0 * s**2 / a.clamp_min(0.05) * grad
    torch.testing.assert_close(out, want)
    # a velocity model moves by the same step, and its noise estimate stays consistent with x_t
    velocity = guidance.gradient_guidance(lambda x, tt: (x - 0.5 * x) / tt[:, None], fn, 2.0,
                                          process=FLOW, prediction="velocity",
                                          alpha_min=0.05)(x, t)
    x0, eps = to_x0_eps(velocity, x, a, s, "velocity")
    torch.testing.assert_close(x0, want)
    torch.testing.assert_close(a * x0 + s * eps, x)


# ------------------------------------------------------------------------------- inpainting
def test_inpainting_holds_node_rows_on_their_noised_known_values_at_every_step():
    batch = torch.tensor([0, 0, 0, 0, 1, 1, 1])
    spec = fc.StateSpec({"pos": fc.GaussianSpace()}, {"pos": batch}, num_samples=2)
    g = torch.Generator().manual_seed(0)
    noise = {"pos": torch.randn(7, 3, generator=g, dtype=torch.float64)}
    known = {"pos": torch.randn(7, 3, generator=g, dtype=torch.float64)}
    held = torch.tensor([True, False, True, False, False, True, False])
    seen = []

    def model(x, t):
        seen.append((x["pos"].clone(), t.clone()))
        return {"pos": 0.3 * x["pos"]}

    out = fc.sample(model, noise, VP, sampler="ddim", steps=5, spec=spec,
                    mask={"pos": held}, known=known)
    assert torch.equal(out["pos"][held], known["pos"][held])
    assert not torch.allclose(out["pos"][~held], known["pos"][~held])
    assert len(seen) == 5
    for x_t, t in seen:
        a = float(VP.alpha(t[:1].double()))
        s = float(VP.sigma(t[:1].double()))
        want = known["pos"] * a + noise["pos"] * s
        torch.testing.assert_close(x_t[held], want[held], rtol=1e-12, atol=1e-12)
