"""fick.core: domain-agnostic diffusion math (noise processes, samplers, guidance).

Imports torch only.

Public surface: ``schedules`` (noise processes by name), ``spaces`` (GaussianSpace,
ZeroCoMSpace, StateSpec), ``training_loss``, ``sample``, ``guidance``, ``likelihood``,
``parameterization`` (exact conversions between predictions), ``denoiser`` (``Denoiser``: a
network wrapped for samplers and losses, the network's time), ``time_embedding``,
``sample_metrics`` (Frechet distance, IS). See docs/core.md.
"""

from . import (
    denoiser,
    guidance,
    likelihood,
    parameterization,
    sample_metrics,
    schedules,
    spaces,
    time_embedding,
)
from .denoiser import Denoiser
from .errors import FickError
from .losses import LossOutput, loss_weight, training_loss
from .samplers import SAMPLERS, sample
from .spaces import GaussianSpace, StateSpec, ZeroCoMSpace

__all__ = ["schedules", "spaces", "guidance", "likelihood", "parameterization", "denoiser",
           "Denoiser", "time_embedding", "sample_metrics", "sample",
           "SAMPLERS", "training_loss", "loss_weight", "LossOutput", "StateSpec", "GaussianSpace",
           "ZeroCoMSpace", "FickError"]
