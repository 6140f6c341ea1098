"""Guidance as model wrappers: each returns a callable with the model's own signature
``(x_t, t, **model_kwargs) -> prediction`` so it plugs into :func:`fick.core.sample`.

Classifier-free guidance (Ho & Salimans 2022) evaluates the conditional and unconditional
predictions in ONE network call on a doubled batch. The network learns the unconditional case
through a boolean ``cfg_null`` keyword (B,) that says, per sample, "ignore your condition"
(train with :func:`drop_condition` to set it at random). In the doubled call:

- every state component and every tensor keyword argument is concatenated with itself along
  dim 0 (dense per-sample tensors and node-level tensors alike);
- keyword arguments named in ``index_kwargs`` (default ``("batch",)``) are node -> sample
  indices and are concatenated with an offset of B, so node-level states (molecules) double
  correctly; ``t`` is doubled;
- ``cfg_null`` is False for the first half and True for the second.

Output: u + w (c - u), optionally rescaled (Lin et al. 2023): x_r = x_cfg std(c)/std(x_cfg)
per sample, mixed as phi x_r + (1 - phi) x_cfg; and only applied inside ``interval``
(Kynkaanniemi et al. 2024), a (low, high) range of the model's t; outside it the
conditional model is called alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .errors import FickError
from .parameterization import check_prediction, from_x0_eps, to_x0_eps
from .schedules import Process
from .spaces import as_state, segment_sum, unwrap_like

__all__ = ["classifier_free", "gradient_guidance", "drop_condition"]


def drop_condition(batch_size: int, p: float, generator: torch.Generator | None = None,
                   device=None) -> Tensor:
    """Boolean ``cfg_null`` (B,) with P(True) = p, for training with condition dropout."""
    gen_device = generator.device if generator is not None else device
    u = torch.rand((batch_size,), generator=generator, device=gen_device)
    return (u < p).to(device)


def _per_sample_std(x: Tensor, index: Tensor | None, num: int) -> Tensor:
    if index is None:
        return x.reshape(x.shape[0], -1).std(dim=1)
    flat = x.reshape(x.shape[0], -1)
    count = torch.bincount(index, minlength=num).to(x.dtype) * flat.shape[1]
    mean = segment_sum(flat.sum(1), index, num) / count
    var = segment_sum((flat - mean[index, None]).square().sum(1), index, num) / (count - 1)
    return var.clamp_min(0).sqrt()


def _expand(std: Tensor, like: Tensor, index: Tensor | None) -> Tensor:
    if index is not None:
        std = std[index]
    return std.reshape(std.shape[:1] + (1,) * (like.dim() - 1))


def classifier_free(model: Callable, scale: float, *, rescale: float = 0.0,
                    interval: tuple[float, float] | None = None,
                    index_kwargs: Sequence[str] = ("batch",),
                    shared_kwargs: Sequence[str] = (),
                    null_kwarg: str = "cfg_null") -> Callable:
    """Wrap ``model`` so that it returns the classifier-free-guided prediction (one call).

    ``scale`` w: 1 is the conditional model, 0 the unconditional one. ``rescale`` phi in
    [0, 1]. ``interval``: apply guidance only for model times t with low <= t <= high.
    For node-level states, pass the node -> sample index as a keyword named in
    ``index_kwargs`` (``batch`` by default) so rescale and doubling know the samples.
    Tensor keywords named in ``shared_kwargs`` (not per sample or per node, e.g. a lookup
    table) are passed unchanged instead of doubled.
    """
    if not 0.0 <= rescale <= 1.0:
        raise FickError(f"guidance rescale must be in [0, 1], got {rescale}")

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
        kw2 = {}
        for k, v in kwargs.items():
            if isinstance(v, Tensor) and v.dim() > 0 and k not in shared_kwargs:
                kw2[k] = torch.cat([v, v + B]) if k in index_kwargs else torch.cat([v, v])
            else:
                kw2[k] = v
        null = torch.cat([torch.zeros(B, dtype=torch.bool, device=t.device),
                          torch.ones(B, dtype=torch.bool, device=t.device)])
        out = model(x2["x"] if plain else x2, torch.cat([t, t]), **kw2, **{null_kwarg: null})
        out, _ = as_state(out)
        index = next((kwargs[k] for k in index_kwargs if k in kwargs), None)
        result = {}
        for k, v in out.items():
            n = v.shape[0] // 2
            cond, uncond = v[:n], v[n:]
            g = cond + (scale - 1.0) * (cond - uncond)
            if rescale > 0.0:
                idx = index if (index is not None and n == index.shape[0]) else None
                std_c = _expand(_per_sample_std(cond, idx, B), cond, idx)
                std_g = _expand(_per_sample_std(g, idx, B), g, idx)
                g = rescale * (g * (std_c / std_g.clamp_min(1e-12))) + (1 - rescale) * g
            result[k] = g
        return unwrap_like(result, plain)

    return guided


def gradient_guidance(model: Callable, fn: Callable, scale: float, *, process: Process,
                      prediction: str = "epsilon") -> Callable:
    """Guide with the gradient of a differentiable ``fn(x0_hat, t) -> (B,)`` (a classifier's
    log-probability, a property regressor's negative error, ...) of the predicted clean sample.

    eps <- eps - scale * sigma * grad_{x_t} fn(x0_hat(x_t)) (Dhariwal & Nichol 2021's
    classifier guidance with the gradient taken through the denoiser, as in universal /
    DPS-style guidance); the result is returned in the model's own parameterisation. For VP
    and flow processes.
    """
    prediction = check_prediction(prediction, process.kind)
    if process.kind == "edm":
        raise FickError("gradient_guidance supports VP and flow processes: wrap the EDM "
                        "denoiser yourself or use a VP schedule")

    def guided(x, t, **kwargs):
        state, plain = as_state(x)
        with torch.enable_grad():
            leaf = {k: v.detach().requires_grad_(True) for k, v in state.items()}
            out, _ = as_state(model(leaf["x"] if plain else leaf, t, **kwargs))
            a_t, s_t = process.alpha(t), process.sigma(t)
            x0, eps = {}, {}
            for k, v in leaf.items():
                shape = (-1,) + (1,) * (v.dim() - 1)
                a = a_t.to(v.dtype).reshape(shape) if a_t.shape[0] == v.shape[0] else None
                if a is None:
                    raise FickError("gradient_guidance needs dense components; for node-level "
                                    "states compute the gradient inside your model")
                s = s_t.to(v.dtype).reshape(shape)
                x0[k], eps[k] = to_x0_eps(out[k], v, a, s, prediction)
            value = fn(unwrap_like(x0, plain), t)
            grads = torch.autograd.grad(value.sum(), list(leaf.values()))
        result = {}
        for (k, v), g in zip(leaf.items(), grads):
            shape = (-1,) + (1,) * (v.dim() - 1)
            a = a_t.to(v.dtype).reshape(shape)
            s = s_t.to(v.dtype).reshape(shape)
            e = eps[k].detach() - scale * s * g
            x0_new = (v.detach() - s * e) / a.clamp_min(1e-12)
            result[k] = from_x0_eps(x0_new, e, a, s, prediction)
        return unwrap_like(result, plain)

    return guided
