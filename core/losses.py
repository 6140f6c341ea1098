"""The training loss: draw t and noise, build x_t and the target, weight, reduce per sample."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .errors import FickError
from .parameterization import check_prediction, from_x0_eps, x0_gain
from .schedules import EDMProcess, Process
from .spaces import StateSpec, as_state

__all__ = ["LossOutput", "training_loss", "loss_weight", "WEIGHTINGS"]

WEIGHTINGS = ("uniform", "min-snr", "snr+1", "edm")


@dataclass
class LossOutput:
    """``loss``: (B,) weighted per-sample loss (sum over components of weight x component);
    ``components``: name -> (B,) unweighted-by-component per-sample losses; ``t``: (B,) draws."""

    loss: Tensor
    components: dict[str, Tensor]
    t: Tensor


def loss_weight(process: Process, t: Tensor, prediction: str, weighting: str = "uniform",
                gamma: float = 5.0, sigma_data: float = 0.5) -> Tensor:
    """Per-sample weight (B,) on the squared prediction error.

    Weightings are defined on the x0 error and converted with d x0 / d prediction:
    ``min-snr`` (Hang et al. 2023) min(SNR, gamma) -> for epsilon targets min(SNR, gamma) / SNR,
    for v targets min(SNR, gamma) / (SNR + 1); ``snr+1``: SNR + 1; ``edm``: EDM's
    lambda(sigma) = (sigma^2 + sd^2) / (sigma sd)^2 with sigma = sigma/alpha, which is 1 on F.
    """
    prediction = check_prediction(prediction, process.kind)
    if weighting == "uniform":
        return torch.ones_like(t, dtype=torch.float64)
    a, s = process.alpha(t).to(torch.float64), process.sigma(t).to(torch.float64)
    coefs = _edm_coefs(process, s) if prediction == "edm" else None
    gain2 = x0_gain(a, s, prediction, coefs) ** 2
    snr = (a / s) ** 2
    if weighting == "min-snr":
        return snr.clamp(max=gamma) * gain2
    if weighting == "snr+1":
        return (snr + 1) * gain2
    if weighting == "edm":
        sd = process.sigma_data if isinstance(process, EDMProcess) else sigma_data
        ve = s / a
        return (ve**2 + sd**2) / (ve * sd) ** 2 * gain2
    raise FickError(f"unknown weighting {weighting!r}: use one of {list(WEIGHTINGS)}")


def _edm_coefs(process: EDMProcess, sigma: Tensor):
    c_skip, c_out, _, _ = process.precondition(sigma)
    return c_skip, c_out


def training_loss(model, x0, process: Process, *, spec: StateSpec | None = None,
                  prediction: str = "epsilon", weighting: str = "uniform", t: Tensor | None = None,
                  noise=None, generator: torch.Generator | None = None,
                  model_kwargs: dict | None = None, component_weights: dict | None = None,
                  gamma: float = 5.0) -> LossOutput:
    """Denoising loss of ``model`` on clean data ``x0`` (a tensor or a dict state).

    ``model(x_t, t, **model_kwargs)`` receives x_t with the structure of ``x0`` and the
    process's model time (training timestep for discrete VP, t in [0, 1] for continuous VP and
    flow, c_noise = ln(sigma)/4 for EDM, whose x_t is also scaled by c_in), and returns a
    prediction of the same structure. Targets: epsilon -> eps, x0 -> x0, v -> a eps - s x0,
    velocity -> eps - x0, edm -> (x0 - c_skip x_t) / c_out. Per-sample reduction follows each
    component's space (mean over the sample's degrees of freedom; node-level components use
    ``spec.index``).
    """
    prediction = check_prediction(prediction, process.kind)
    state, plain = as_state(x0)
    spec = (spec or StateSpec()).resolve(state)
    spec.check(state)
    num = spec.num_samples
    ref = next(iter(state.values()))
    if t is None:
        t = process.sample_t(num, generator=generator, device=ref.device)
    t = torch.as_tensor(t, device=ref.device)
    if noise is None:
        eps = spec.noise(state, generator)
    else:
        eps, _ = as_state(noise)
        eps = spec.project(eps)
    a_t = process.alpha(t).to(torch.float64)
    s_t = process.sigma(t).to(torch.float64)
    edm_in = process.precondition(s_t) if isinstance(process, EDMProcess) else None

    x_t, x_in, targets = {}, {}, {}
    for k, x in state.items():
        a = spec.broadcast(a_t, k, x)
        s = spec.broadcast(s_t, k, x)
        x_t[k] = a * x + s * eps[k]
        if edm_in is not None:
            c_skip, c_out, c_in, _ = (spec.broadcast(c, k, x) for c in edm_in)
            x_in[k] = c_in * x_t[k]
            targets[k] = from_x0_eps(x, eps[k], a, s, prediction, x=x_t[k],
                                     edm_coefs=(c_skip, c_out))
        else:
            x_in[k] = x_t[k]
            targets[k] = from_x0_eps(x, eps[k], a, s, prediction)
    # The model sees t in float64 for float64 states and float32 otherwise (as in sampling).
    t_in = process.model_time(t).to(torch.float64 if ref.dtype == torch.float64 else torch.float32)
    out = model(x_in["x"] if plain else x_in, t_in, **(model_kwargs or {}))
    pred, _ = as_state(out)
    # Zero-CoM components: the target lives in the subspace, so only the projected part of the
    # prediction is meaningful (EDM removes the mean of the predicted noise the same way).
    pred = spec.project(pred) if spec.needs_projection else pred
    missing = set(state) - set(pred)
    if missing:
        raise FickError(f"the model's prediction lacks components {sorted(missing)}")
    weight = loss_weight(process, t, prediction, weighting, gamma)
    components, total = {}, None
    for k in state:
        elementwise = (pred[k] - targets[k]).square()
        per = spec.reduce(k, elementwise) * weight.to(elementwise.dtype)
        components[k] = per
        cw = 1.0 if component_weights is None else float(component_weights.get(k, 1.0))
        total = per * cw if total is None else total + per * cw
    return LossOutput(loss=total, components=components, t=t)
