"""The denoiser wrapper: a network turned into what samplers, losses and guidance call.

k-diffusion separates the network from its preconditioning (``Denoiser(inner_model)``); fick
does the same. A network ``net(x, t_net, **kwargs)`` predicts in one parameterisation
(``epsilon``, ``x0``, ``v``, ``velocity`` or ``edm``) and reads its time on a scale where
sinusoidal features are useful. ``Denoiser(net, process, prediction)``:

- ``denoiser(x, t, **kwargs)`` is the ``model`` of :func:`fick.core.sample`,
  :func:`fick.core.training_loss` and the guidance wrappers: it receives what they pass (the
  process's model time, EDM's ``c_in``-scaled input) and hands the network its time,
  ``model_time(t) * time_scale``;
- ``denoise(x_t, t)`` / ``x0_eps(x_t, t)`` / ``predict(x_t, t, prediction)``: the clean
  estimate, the noise estimate, or any other parameterisation, from a state in the process's
  own form (x_t = alpha x0 + sigma eps; EDM: x0 + sigma eps) at process time ``t``; EDM's
  preconditioning is applied here.

Time scale (:func:`network_time_scale`): discrete VP processes pass their timestep 0..T-1
unchanged, continuous ones (t in [0, 1]) are multiplied by 1000 so that both reach the same
feature range.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .edm_flow import EDMProcess
from .parameterization import check_prediction, from_x0_eps, to_x0_eps
from .process import Process

__all__ = ["CONTINUOUS_TIME_SCALE", "Denoiser", "network_time_scale"]

# continuous time t in [0, 1] -> about the range of 1000 discrete training steps
CONTINUOUS_TIME_SCALE = 1000.0


def network_time_scale(process: Process) -> float:
    """Factor from a process's model time to the network's time input: 1 for discrete
    timesteps 0..T-1, :data:`CONTINUOUS_TIME_SCALE` for continuous t in [0, 1] (VP, flow,
    EDM's c_noise)."""
    return 1.0 if getattr(process, "discrete", False) else CONTINUOUS_TIME_SCALE


def _per_sample(value: Tensor, like: Tensor) -> Tensor:
    return value.to(like.dtype).reshape((-1,) + (1,) * (like.dim() - 1))


class Denoiser:
    """``network`` (predicting ``prediction``) wrapped for ``process``; see the module doc.

    A plain callable, not a module: it holds a reference to the network, so a task that owns
    the network saves its weights once, under its own name.
    """

    def __init__(self, network: Callable, process: Process, prediction: str = "epsilon",
                 time_scale: float | None = None):
        self.network, self.process = network, process
        self.prediction = check_prediction(prediction, process.kind)
        self.time_scale = network_time_scale(process) if time_scale is None else float(time_scale)

    def network_time(self, t: Tensor) -> Tensor:
        """The network's time input for the model time ``t`` that samplers and losses pass."""
        return t * self.time_scale

    def __call__(self, x, t: Tensor, **kwargs):
        """The raw prediction, called as fick.core's samplers, loss and guidance call a model."""
        return self.network(x, self.network_time(t), **kwargs)

    def x0_eps(self, x_t: Tensor, t: Tensor, **kwargs) -> tuple[Tensor, Tensor]:
        """(x0, eps) estimates at process time ``t`` (B,) from a dense x_t in process form."""
        t = torch.as_tensor(t, device=x_t.device).reshape(-1)
        a = _per_sample(self.process.alpha(t), x_t)
        s = _per_sample(self.process.sigma(t), x_t)
        if isinstance(self.process, EDMProcess):
            c_skip, c_out, c_in, _ = (_per_sample(c, x_t) for c in
                                      self.process.precondition(self.process.sigma(t)))
            out = self(c_in * x_t, self.process.model_time(t).to(x_t.dtype), **kwargs)
            return to_x0_eps(out, x_t, a, s, self.prediction, edm_coefs=(c_skip, c_out))
        out = self(x_t, self.process.model_time(t).to(x_t.dtype), **kwargs)
        return to_x0_eps(out, x_t, a, s, self.prediction)

    def denoise(self, x_t: Tensor, t: Tensor, **kwargs) -> Tensor:
        """The clean estimate E[x0 | x_t] of a trained network (k-diffusion's D(x, sigma))."""
        return self.x0_eps(x_t, t, **kwargs)[0]

    def predict(self, x_t: Tensor, t: Tensor, prediction: str, **kwargs) -> Tensor:
        """The estimate in another parameterisation (epsilon, x0, v, velocity)."""
        prediction = check_prediction(prediction, self.process.kind)
        x0, eps = self.x0_eps(x_t, t, **kwargs)
        t = torch.as_tensor(t, device=x_t.device).reshape(-1)
        a = _per_sample(self.process.alpha(t), x_t)
        s = _per_sample(self.process.sigma(t), x_t)
        if prediction == "edm":
            c_skip, c_out, _, _ = (_per_sample(c, x_t) for c in
                                   self.process.precondition(self.process.sigma(t)))
            return from_x0_eps(x0, eps, a, s, prediction, x=x_t, edm_coefs=(c_skip, c_out))
        return from_x0_eps(x0, eps, a, s, prediction)
