"""Gradient guidance of molecule sampling toward property targets with a property predictor.

fick.core.guidance.gradient_guidance handles dense states only, so the same rule is applied
here for node- and pair-level components: with x0_hat(x_t) the clean estimate and f the
predictor's log-likelihood of the target, eps <- eps - scale sigma grad f, i.e.
x0 <- x0_hat + scale sigma^2 / alpha grad_{x_t} f (alpha floored at 0.05 so the first,
pure-noise steps stay bounded).
"""

from __future__ import annotations

import torch
from fick.domains.base import FickError

from .state import MoleculeGraph

__all__ = ["gradient_guided"]


def gradient_guided(task, model, graph: MoleculeGraph, target: torch.Tensor, scale: float):
    """``model`` (x_t, t) -> clean estimate, wrapped to move the estimate toward ``target``
    (data units) along the gradient of ``task.regressor``'s log-likelihood."""
    if task.codec.masked:
        raise FickError("gradient guidance needs continuous categorical components: it is "
                        "not available for model.categorical=mask")
    if task.regressor is None:
        raise FickError(
            "gradient guidance needs a property predictor: set model.regressor to a trained "
            "molecules regressor (fick train configs/molecules/qm9-regressor.yaml)"
        )
    fn = task.regressor.guide(task.cfg.condition, target, task.codec, graph)
    index = {name: task.codec.index_of(name, graph) for name in task.codec.components()}

    def guided(x_t, t):
        with torch.enable_grad():
            leaf = {k: v.detach().requires_grad_(True) for k, v in x_t.items()}
            x0 = model(leaf, t)
            value = fn(x0)
            grads = torch.autograd.grad(value.sum(), list(leaf.values()))
        t = torch.as_tensor(t).reshape(-1)
        a = task.process.alpha(t).clamp_min(0.05)
        s = task.process.sigma(t)
        gain = (scale * s * s / a).to(x_t["pos"].dtype)
        return {k: x0[k].detach() + gain[index[k]].unsqueeze(-1) * g
                for (k, _), g in zip(leaf.items(), grads)}

    return guided
