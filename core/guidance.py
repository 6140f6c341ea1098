"""Guidance as model wrappers: each returns a callable with the model's own signature
``(x_t, t, **model_kwargs) -> prediction`` so it plugs into :func:`fick.core.sample`. States may
be plain tensors, dense dicts (batch first) or node-level dicts whose rows map to samples
through a batch index (PyG convention; pass it as a ``StateSpec``).

Classifier-free guidance (Ho & Salimans 2022) evaluates the conditional and unconditional
predictions in ONE network call on a doubled batch. The network learns the unconditional case
through a boolean ``cfg_null`` keyword (B,) that says, per sample, "ignore your condition"
(train with :func:`drop_condition` to set it at random). In the doubled call:

- every state component, every tensor keyword argument and every keyword argument that is a
  state (a dict of tensors, e.g. self-conditioning inputs) is concatenated with itself along
  dim 0 (dense per-sample tensors and node-level tensors alike);
- keyword arguments named in ``index_kwargs`` (default ``("batch",)``) are node -> sample
  indices and are concatenated with an offset of B, so node-level states double correctly;
  those named in ``doublers`` are doubled by the given function (a graph object whose edges
  index nodes needs an offset by the node count, which only its owner knows); ``t`` is doubled;
- ``cfg_null`` is False for the first half and True for the second.

Output: u + w (c - u), optionally rescaled (Lin et al. 2024, "Common diffusion noise schedules
and sample steps are flawed"): x_r = x_cfg std(c)/std(x_cfg) per sample, the std taken over all
of a sample's elements (over that sample's rows for node-level components), mixed as
phi x_r + (1 - phi) x_cfg; and only applied inside ``interval`` (Kynkaanniemi et al. 2024), a
(low, high) range of the model's t; outside it the conditional model is called alone.

Gradient guidance: :func:`gradient_guidance`. Inpainting (holding components or rows at known
values) is the sampler's ``mask`` / ``known`` (:func:`fick.core.sample`): at every step the held
parts are replaced by their known values noised to the step's level with the initial noise,
and equal the known values bit for bit at the end; masks broadcast from the left, so a (N,)
mask holds whole node rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

from .errors import FickError
from .parameterization import check_prediction, from_x0_eps, to_x0_eps
from .schedules import Process
from .spaces import StateSpec, as_state, per_sample, segment_sum, unwrap_like

__all__ = ["classifier_free", "gradient_guidance", "drop_condition"]


def drop_condition(batch_size: int, p: float, generator: torch.Generator | None = None,
                   device=None) -> Tensor:
    """Boolean ``cfg_null`` (B,) with P(True) = p, for training with condition dropout."""
    gen_device = generator.device if generator is not None else device
    u = torch.rand((batch_size,), generator=generator, device=gen_device)
    return (u < p).to(device)


def _per_sample_std(x: Tensor, index: Tensor | None, num: int) -> Tensor:
    """Unbiased std of each sample's elements (B,); node-level rows grouped by ``index``."""
    if index is None:
        return x.reshape(x.shape[0], -1).std(dim=1)
    flat = x.reshape(x.shape[0], -1)
    count = torch.bincount(index, minlength=num).to(x.dtype) * flat.shape[1]
    mean = segment_sum(flat.sum(1), index, num) / count
    var = segment_sum((flat - mean[index, None]).square().sum(1), index, num) / (count - 1)
    return var.clamp_min(0).sqrt()


def _component_index(name: str, like: Tensor, num: int, spec: StateSpec | None,
                     kwarg_index: Tensor | None) -> Tensor | None:
    """The batch index of component ``name`` (None: dense), from ``spec`` or, without one, the
    model's index keyword where the row counts match."""
    if spec is not None:
        index = spec.index.get(name)
    else:
        rows = kwarg_index.shape[0] if kwarg_index is not None else -1
        index = kwarg_index if like.shape[0] == rows else None
    if index is None and like.shape[0] != num:
        raise FickError(f"component {name!r} has {like.shape[0]} rows for {num} samples: pass "
                        "spec=StateSpec(index={...}) naming its node -> sample index")
    return index


def _double_kwargs(kwargs: dict, num: int, index_kwargs: Sequence[str],
                   shared_kwargs: Sequence[str], doublers: Mapping[str, Callable]) -> dict:
    out = {}
    for k, v in kwargs.items():
        if k in doublers:
            out[k] = doublers[k](v)
        elif k in shared_kwargs:
            out[k] = v
        elif isinstance(v, Tensor) and v.dim() > 0:
            out[k] = torch.cat([v, v + num]) if k in index_kwargs else torch.cat([v, v])
        elif isinstance(v, Mapping) and v and all(isinstance(c, Tensor) for c in v.values()):
            out[k] = {name: torch.cat([c, c]) for name, c in v.items()}
        else:
            out[k] = v
    return out


def classifier_free(model: Callable, scale: float, *, rescale: float = 0.0,
                    interval: tuple[float, float] | None = None,
                    index_kwargs: Sequence[str] = ("batch",),
                    shared_kwargs: Sequence[str] = (),
                    null_kwarg: str = "cfg_null",
                    doublers: Mapping[str, Callable] | None = None,
                    spec: StateSpec | None = None) -> Callable:
    """Wrap ``model`` so that it returns the classifier-free-guided prediction (one call).

    ``scale`` w: 1 is the conditional model, 0 the unconditional one. ``rescale`` phi in
    [0, 1]. ``interval``: apply guidance only for model times t with low <= t <= high.
    For node-level states, pass the node -> sample index as a keyword named in
    ``index_kwargs`` (``batch`` by default) so the doubling offsets it, and ``spec`` (the
    state's ``StateSpec``) so rescale knows each component's index; without ``spec``, rescale
    uses the index keyword for components with as many rows. Tensor keywords named in
    ``shared_kwargs`` (not per sample or per node, e.g. a lookup table) are passed unchanged
    instead of doubled; keywords named in ``doublers`` are doubled by ``doublers[name](value)``.
    """
    if not 0.0 <= rescale <= 1.0:
        raise FickError(f"guidance rescale must be in [0, 1], got {rescale}")
    doublers = dict(doublers or {})

    def guided(x, t, **kwargs):
        B = t.shape[0]
        if interval is not None:
            lo, hi = interval
            inside = bool(((t >= lo) & (t <= hi)).all())
            if not inside:
                null = torch.zeros(B, dtype=torch.bool, device=t.device)
                return model(x, t, **kwargs, **{null_kwarg: null})
        state, plain = as_state(x)
        x2 = {k: torch.cat([v, v]) for k, v in state.items()}
        kw2 = _double_kwargs(kwargs, B, index_kwargs, shared_kwargs, doublers)
        null = torch.cat([torch.zeros(B, dtype=torch.bool, device=t.device),
                          torch.ones(B, dtype=torch.bool, device=t.device)])
        out = model(x2["x"] if plain else x2, torch.cat([t, t]), **kw2, **{null_kwarg: null})
        out, _ = as_state(out)
        kwarg_index = next((kwargs[k] for k in index_kwargs if k in kwargs), None)
        result = {}
        for k, v in out.items():
            n = v.shape[0] // 2
            cond, uncond = v[:n], v[n:]
            g = cond + (scale - 1.0) * (cond - uncond)
            if rescale > 0.0:
                idx = _component_index(k, cond, B, spec, kwarg_index)
                std_c = per_sample(_per_sample_std(cond, idx, B), cond, idx)
                std_g = per_sample(_per_sample_std(g, idx, B), g, idx)
                g = rescale * (g * (std_c / std_g.clamp_min(1e-12))) + (1 - rescale) * g
            result[k] = g
        return unwrap_like(result, plain)

    return guided


def gradient_guidance(model: Callable, fn: Callable, scale: float, *, process: Process,
                      prediction: str = "epsilon", spec: StateSpec | None = None,
                      alpha_min: float = 0.0) -> Callable:
    """Guide with the gradient of a differentiable ``fn(x0_hat, t) -> (B,)`` (a classifier's
    log-probability, a property regressor's negative error, ...) of the predicted clean sample.

    g = grad_{x_t} fn(x0_hat(x_t)), taken through the denoiser (Dhariwal & Nichol 2021's
    classifier guidance with the gradient of the clean estimate, as in universal / DPS-style
    guidance): eps <- eps - scale sigma g, i.e. x0 <- x0_hat + scale sigma^2 / alpha g at fixed
    x_t; the result is returned in the model's own parameterisation. ``alpha_min`` floors the
    alpha of that step (x0 <- x0_hat + scale sigma^2 / max(alpha, alpha_min) g, eps moved
    consistently), so the first steps of a flow, where alpha is 0, stay bounded. ``spec``:
    the state's ``StateSpec``, whose batch indices broadcast the per-sample alpha and sigma
    to node-level components. For VP and flow processes.
    """
    prediction = check_prediction(prediction, process.kind)
    if process.kind == "edm":
        raise FickError("gradient_guidance supports VP and flow processes: wrap the EDM "
                        "denoiser yourself or use a VP schedule")

    def guided(x, t, **kwargs):
        state, plain = as_state(x)
        t_vec = torch.as_tensor(t).reshape(-1)
        a_t, s_t = process.alpha(t_vec), process.sigma(t_vec)
        num = t_vec.shape[0]
        coef = {}
        for k, v in state.items():
            index = _component_index(k, v, num, spec, None)
            coef[k] = (per_sample(a_t, v, index), per_sample(s_t, v, index), index)
        with torch.enable_grad():
            leaf = {k: v.detach().requires_grad_(True) for k, v in state.items()}
            out, _ = as_state(model(leaf["x"] if plain else leaf, t, **kwargs))
            x0 = {k: out[k] if prediction == "x0" else
                  to_x0_eps(out[k], v, coef[k][0], coef[k][1], prediction)[0]
                  for k, v in leaf.items()}
            value = fn(unwrap_like(x0, plain), t)
            grads = torch.autograd.grad(value.sum(), list(leaf.values()))
        a_step = a_t.clamp_min(max(alpha_min, 1e-12))
        x0_gain = scale * s_t * s_t / a_step
        eps_gain = scale * s_t * (a_t / a_step)
        result = {}
        for (k, v), g in zip(leaf.items(), grads):
            a, s, index = coef[k]
            x0_new = x0[k].detach() + per_sample(x0_gain, v, index) * g
            if prediction == "x0":
                result[k] = x0_new
                continue
            eps = to_x0_eps(out[k].detach(), v.detach(), a, s, prediction)[1]
            eps_new = eps - per_sample(eps_gain, v, index) * g
            result[k] = from_x0_eps(x0_new, eps_new, a, s, prediction, x=v.detach())
        return unwrap_like(result, plain)

    return guided
