"""fick.core: domain-agnostic diffusion math (noise processes, samplers, guidance).

Imports torch only.

Public surface: ``schedules`` (noise processes by name), ``spaces`` (GaussianSpace,
ZeroCoMSpace, StateSpec), ``training_loss``, ``sample``, ``guidance``, ``likelihood``,
``parameterization`` (exact conversions between predictions). See docs/core.md.
"""

from . import guidance, likelihood, parameterization, schedules, spaces
from .errors import FickError
from .losses import LossOutput, loss_weight, training_loss
from .samplers import SAMPLERS, sample
from .spaces import GaussianSpace, StateSpec, ZeroCoMSpace

__all__ = ["schedules", "spaces", "guidance", "likelihood", "parameterization", "sample",
           "SAMPLERS", "training_loss", "loss_weight", "LossOutput", "StateSpec", "GaussianSpace",
           "ZeroCoMSpace", "FickError"]
