"""Exact conversions between what a network predicts and (x0, eps).

With x_t = a x0 + s eps (a = alpha, s = sigma at the level):

- ``epsilon``: eps.
- ``x0`` (diffusers' "sample"): x0.
- ``v`` (Salimans & Ho): v = a eps - s x0, so x0 = (a x_t - s v) / (a^2 + s^2) and
  eps = (s x_t + a v) / (a^2 + s^2) (the denominator is 1 for VP processes).
- ``velocity`` (flow matching, linear interpolant a = 1 - t, s = t): u = eps - x0, so
  x0 = x_t - t u and eps = x_t + (1 - t) u.
- ``edm`` (EDM processes only): the raw network output F with D = c_skip x + c_out F.

Coefficients may be Python floats (sampling, one level for the batch) or per-sample tensors
already broadcast to the component (training).
"""

from __future__ import annotations

import torch

from .errors import FickError

__all__ = ["PREDICTIONS", "to_x0_eps", "from_x0_eps", "x0_gain", "check_prediction"]

PREDICTIONS = ("epsilon", "x0", "v", "velocity", "edm")
_ALIASES = {"eps": "epsilon", "sample": "x0", "v_prediction": "v", "flow": "velocity",
            "flow_prediction": "velocity"}


def check_prediction(prediction: str, kind: str) -> str:
    """Canonical prediction name, validated against the process kind (vp, edm, flow)."""
    p = _ALIASES.get(prediction, prediction)
    if p not in PREDICTIONS:
        raise FickError(f"unknown prediction {prediction!r}: use one of {list(PREDICTIONS)}")
    if p == "velocity" and kind != "flow":
        raise FickError("prediction 'velocity' needs a flow process: use schedules.flow() or "
                        "another prediction (epsilon, x0, v)")
    if p == "edm" and kind != "edm":
        raise FickError("prediction 'edm' needs an EDM process: use schedules.edm()")
    return p


def to_x0_eps(pred, x, a, s, prediction: str, edm_coefs=None):
    """(x0, eps) from a prediction of the given kind at level (a, s)."""
    if prediction == "epsilon":
        return (x - s * pred) / a, pred
    if prediction == "x0":
        return pred, (x - a * pred) / s
    if prediction == "v":
        n = a * a + s * s
        return (a * x - s * pred) / n, (s * x + a * pred) / n
    if prediction == "velocity":
        return x - s * pred, x + a * pred
    if prediction == "edm":
        c_skip, c_out = edm_coefs
        x0 = c_skip * x + c_out * pred
        return x0, (x - x0) / s
    raise FickError(f"unknown prediction {prediction!r}")


def from_x0_eps(x0, eps, a, s, prediction: str, x=None, edm_coefs=None):
    """The prediction of the given kind that corresponds to (x0, eps)."""
    if prediction == "epsilon":
        return eps
    if prediction == "x0":
        return x0
    if prediction == "v":
        return a * eps - s * x0
    if prediction == "velocity":
        return eps - x0
    if prediction == "edm":
        c_skip, c_out = edm_coefs
        x = a * x0 + s * eps if x is None else x
        return (x0 - c_skip * x) / c_out
    raise FickError(f"unknown prediction {prediction!r}")


def x0_gain(a, s, prediction: str, edm_coefs=None):
    """|d x0 / d prediction| at fixed x_t: maps a prediction error to an x0 error.

    Loss weightings are defined on the x0 error (min-SNR, EDM's lambda, SNR+1); multiplied by
    this gain squared they become weights on the prediction error.
    """
    if prediction == "epsilon":
        return s / a
    if prediction == "x0":
        return torch.ones_like(a) if isinstance(a, torch.Tensor) else 1.0
    if prediction == "v":
        return s / (a * a + s * s)
    if prediction == "velocity":
        return s
    if prediction == "edm":
        return edm_coefs[1]
    raise FickError(f"unknown prediction {prediction!r}")
