"""Discrete flows for categorical components: the masking CTMC of Campbell et al. (2024).

A categorical component is a one-hot tensor ``(rows, K + 1)`` whose last class is the *mask*.
At noise level ``k`` in [0, 1] each row independently shows its clean class with probability
``1 - k`` and the mask with probability ``k`` (``k = 1``: all masked, the prior; ``k = 0``: the
data). For a process with signal scale ``a`` (flow: ``a = 1 - t``) the level is ``k = 1 - a``,
so with flow matching the categorical and continuous components share one clock.

Sampling from level ``k`` to ``k' < k`` with the model's clean-class probabilities ``p``
(``(rows, K)``) follows the conditional rate matrix integrated over the step (Euler):

- a masked row is revealed with probability ``(k - k') (1 + eta (1 - k)) / k``, its class
  drawn from ``p``;
- an unmasked row is masked again with probability ``(k - k') eta`` (never on the last step).

``eta`` = 0 is the minimal rate (no re-masking); eta > 0 adds Campbell et al.'s detailed-
balance term, which lets the sampler revise early choices, as SemlaFlow / FlowMol do. On the
last step (``k' = 0``) every masked row is revealed.

:func:`sample` (``fick.core.sample``) integrates the continuous components with any sampler
and these components with this rule on the same grid; ``MaskedCategoricalSpace`` marks them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .errors import FickError
from .spaces import Space

__all__ = ["MaskedCategoricalSpace", "DiscreteTrack", "mask_corrupt", "masking_step"]


def _uniform(shape, like: Tensor, generator: torch.Generator | None) -> Tensor:
    if generator is None:
        return torch.rand(shape, device=like.device)
    return torch.rand(shape, device=generator.device, generator=generator).to(like.device)


def _categorical(probs: Tensor, generator: torch.Generator | None) -> Tensor:
    """One class index per row of ``probs`` (rows, K), drawn with ``generator``."""
    dev = generator.device if generator is not None else probs.device
    return torch.multinomial(probs.to(dev).float().clamp_min(0) + 1e-12, 1,
                             generator=generator).squeeze(-1).to(probs.device)


def mask_corrupt(classes: Tensor, level: Tensor, mask_index: int,
                 generator: torch.Generator | None = None) -> Tensor:
    """Forward process: each class index replaced by ``mask_index`` with probability ``level``
    (a per-row tensor, or a scalar)."""
    u = _uniform(classes.shape, classes, generator)
    return torch.where(u < level, torch.full_like(classes, mask_index), classes)


def masking_step(x: Tensor, probs: Tensor, level: float, next_level: float, eta: float = 0.0,
                 generator: torch.Generator | None = None) -> Tensor:
    """One reverse step of the masking CTMC on one-hot rows ``x`` (rows, K + 1); see the
    module docstring. Returns one-hot rows of the same shape."""
    num = x.shape[-1]
    mask_index = num - 1
    cls = x.argmax(-1)
    masked = cls == mask_index
    dk = level - next_level
    if next_level <= 0.0:
        reveal_p = 1.0
    else:
        reveal_p = min(1.0, dk * (1.0 + eta * (1.0 - level)) / max(level, 1e-12))
    u = _uniform(cls.shape, x, generator)
    drawn = _categorical(probs, generator)
    new = torch.where(masked & (u < reveal_p), drawn, cls)
    if eta > 0 and next_level > 0.0:
        remask_p = min(1.0, dk * eta)
        u2 = _uniform(cls.shape, x, generator)
        new = torch.where(~masked & (u2 < remask_p), torch.full_like(cls, mask_index), new)
    return torch.nn.functional.one_hot(new, num).to(x.dtype)


class MaskedCategoricalSpace(Space):
    """A categorical component under the masking process: its prior is "all masked"."""

    discrete = True

    def __init__(self, num_classes: int):
        self.num_classes = int(num_classes)  # real classes; the mask is one more

    def __repr__(self) -> str:
        return f"MaskedCategoricalSpace(num_classes={self.num_classes})"

    def noise(self, like: Tensor, index: Tensor | None = None, num_samples: int | None = None,
              generator: torch.Generator | None = None) -> Tensor:
        out = torch.zeros(like.shape[:-1] + (self.num_classes + 1,), dtype=like.dtype,
                          device=like.device)
        out[..., -1] = 1.0
        return out

    def corrupt(self, classes: Tensor, level: Tensor,
                generator: torch.Generator | None = None) -> Tensor:
        """Clean class indices -> one-hot rows at noise level ``level`` (per row or scalar)."""
        noisy = mask_corrupt(classes, level, self.num_classes, generator)
        return torch.nn.functional.one_hot(noisy, self.num_classes + 1).float()


def is_discrete(space: Space) -> bool:
    return bool(getattr(space, "discrete", False))


class DiscreteTrack:
    """Carries the discrete components of a state beside a continuous sampler.

    The continuous sampler sees a model that takes and returns the continuous components
    only; the wrapped model adds the current discrete rows to its input and keeps the
    returned class probabilities. After every step (the sampler's progress callback) the
    discrete rows move from the step's level to the next one with :func:`masking_step`.
    ``levels``: the grid's masking level at each grid point (``1 - a``).
    """

    def __init__(self, names: list[str], state: dict[str, Tensor], levels: list[float],
                 eta: float, generator: torch.Generator | None,
                 masks: dict[str, Tensor], knowns: dict[str, Tensor]):
        self.names = names
        self.x = {k: state[k] for k in names}
        self.levels = levels
        self.eta = float(eta)
        self.generator = generator
        self.masks, self.knowns = masks, knowns
        self.probs: dict[str, Tensor] | None = None
        self._hold()

    def _hold(self) -> None:
        """Rows held fixed (scaffolds) show their known class at every level."""
        for k, m in self.masks.items():
            self.x[k] = torch.where(m, self.knowns[k], self.x[k])

    def wrap_model(self, model: Callable) -> Callable:
        def continuous_model(x_t, t, **kwargs):
            out = model({**x_t, **self.x}, t, **kwargs)
            missing = [k for k in self.names if k not in out]
            if missing:
                raise FickError(f"the model returned no class probabilities for {missing}")
            self.probs = {k: out[k] for k in self.names}
            return {k: v for k, v in out.items() if k not in self.names}

        return continuous_model

    def wrap_callback(self, callback: Callable | None) -> Callable:
        def step(j: int, total: int) -> None:
            if self.probs is None:
                raise FickError("a sampler step ended before the model was called")
            for k in self.names:
                self.x[k] = masking_step(self.x[k], self.probs[k], self.levels[j - 1],
                                         self.levels[j], self.eta, self.generator)
            self._hold()
            if callback is not None:
                callback(j, total)

        return step
