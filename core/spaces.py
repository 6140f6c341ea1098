"""Noise spaces and structured states.

A *state* is a dict ``name -> tensor``. Dense components are batch-first ``(B, ...)``; node-level
components (variable size per sample, e.g. atom positions ``(N_total, 3)``) carry a batch index
``(N_total,)`` with values in ``0..B-1`` (PyG convention). Each component has a *space* that
draws its noise, projects onto its subspace and reduces an elementwise loss to one value per
sample. A plain tensor is the one-component case ``{"x": tensor}`` in a :class:`GaussianSpace`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .errors import FickError

__all__ = ["GaussianSpace", "ZeroCoMSpace", "Space", "StateSpec", "as_state", "unwrap_like",
           "per_sample", "segment_sum", "randn_like"]


def randn_like(like: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Standard normal noise shaped like ``like``, drawn on the generator's device.

    Drawing where the generator lives (then moving) keeps a CPU generator usable for CUDA
    states and gives the same numbers on every device, as diffusers' ``randn_tensor`` does.
    """
    if generator is None:
        return torch.randn(like.shape, dtype=like.dtype, device=like.device)
    noise = torch.randn(like.shape, dtype=like.dtype, device=generator.device, generator=generator)
    return noise.to(like.device)


def segment_sum(values: Tensor, index: Tensor, num_samples: int) -> Tensor:
    """Sum the rows of ``values`` (N, ...) into ``num_samples`` groups given by ``index`` (N,)."""
    out = values.new_zeros((num_samples,) + tuple(values.shape[1:]))
    return out.index_add_(0, index, values)


def per_sample(coef: Tensor, like: Tensor, index: Tensor | None = None) -> Tensor:
    """Broadcast a per-sample vector ``coef`` (B,) against a component (dense or node-level)."""
    if index is not None:
        coef = coef[index]
    return coef.reshape(coef.shape[:1] + (1,) * (like.dim() - 1)).to(like.dtype)


class Space:
    """How one component is noised, projected and reduced. Subclasses override what differs."""

    def noise(self, like: Tensor, index: Tensor | None = None, num_samples: int | None = None,
              generator: torch.Generator | None = None) -> Tensor:
        """Noise shaped like ``like``, drawn from ``generator``, projected onto the space."""
        return self.project(randn_like(like, generator), index, num_samples)

    def project(self, x: Tensor, index: Tensor | None = None,
                num_samples: int | None = None) -> Tensor:
        """Project onto the space (identity for a plain Gaussian space)."""
        return x

    needs_projection = False  # whether project() is more than the identity

    def dof(self, like: Tensor, index: Tensor | None = None,
            num_samples: int | None = None) -> Tensor:
        """Degrees of freedom of each sample (B,), as a float tensor."""
        if index is None:
            return torch.full((like.shape[0],), float(like[0].numel()), dtype=torch.float64,
                              device=like.device)
        counts = torch.bincount(index, minlength=_num(num_samples, index)).to(torch.float64)
        return counts * float(like[0].numel())

    def reduce(self, elementwise: Tensor, index: Tensor | None = None,
               num_samples: int | None = None) -> Tensor:
        """Per-sample mean of an elementwise quantity over the sample's degrees of freedom
        (:meth:`dof`, which a subspace overrides)."""
        sums = elementwise.reshape(elementwise.shape[0], -1).sum(1)
        if index is not None:
            sums = segment_sum(sums, index, _num(num_samples, index))
        dof = self.dof(elementwise, index, num_samples).to(sums.dtype)
        return sums / dof.clamp_min(1.0)


class GaussianSpace(Space):
    """Plain isotropic Gaussian noise (images, latents, one-hot features, ...)."""

    def __repr__(self) -> str:
        return "GaussianSpace()"


class ZeroCoMSpace(Space):
    """Positions in the zero-centre-of-mass subspace (EDM, Hoogeboom et al. 2022).

    Noise and predictions are projected to zero mean per sample; a sample with ``n`` nodes in
    ``dim`` dimensions has ``(n - 1) * dim`` degrees of freedom. Dense components ``(B, n, dim)``
    are centred over axis 1; node-level ones ``(N_total, dim)`` over their sample's nodes.
    """

    needs_projection = True

    def __init__(self, dim: int = 3):
        self.dim = dim

    def __repr__(self) -> str:
        return f"ZeroCoMSpace(dim={self.dim})"

    def project(self, x: Tensor, index: Tensor | None = None,
                num_samples: int | None = None) -> Tensor:
        if index is None:
            return x - x.mean(dim=1, keepdim=True)
        n = _num(num_samples, index)
        counts = torch.bincount(index, minlength=n).clamp_min(1).to(x.dtype)
        mean = segment_sum(x, index, n) / counts.unsqueeze(-1)
        return x - mean[index]

    def dof(self, like: Tensor, index: Tensor | None = None,
            num_samples: int | None = None) -> Tensor:
        if index is None:
            n = like.shape[1]
            per = float((n - 1) * like[0, 0].numel())
            return torch.full((like.shape[0],), per, dtype=torch.float64, device=like.device)
        counts = torch.bincount(index, minlength=_num(num_samples, index)).to(torch.float64)
        return (counts - 1).clamp_min(0) * float(like[0].numel())


def _num(num_samples: int | None, index: Tensor) -> int:
    # Only falls back to a device sync when the caller did not say how many samples there are.
    return int(num_samples) if num_samples is not None else int(index.max()) + 1


@dataclass
class StateSpec:
    """Spaces and batch indices of a structured state.

    ``spaces``: name -> Space (missing names default to GaussianSpace);
    ``index``: name -> LongTensor batch index for node/edge-level components;
    ``num_samples``: B (inferred from dense components or the largest index when omitted).
    """

    spaces: dict[str, Space] = field(default_factory=dict)
    index: dict[str, Tensor] = field(default_factory=dict)
    num_samples: int | None = None

    def space(self, name: str) -> Space:
        return self.spaces.get(name, _GAUSSIAN)

    def resolve(self, state: Mapping[str, Tensor]) -> StateSpec:
        """A copy with ``num_samples`` filled in from ``state``."""
        if self.num_samples is not None:
            return self
        dense = [v for k, v in state.items() if k not in self.index]
        if dense:
            n = dense[0].shape[0]
        elif self.index:
            n = max(int(i.max()) + 1 for i in self.index.values())
        else:
            raise FickError("empty state: pass at least one component")
        return StateSpec(dict(self.spaces), dict(self.index), n)

    def check(self, state: Mapping[str, Tensor]) -> None:
        unknown = set(self.spaces) - set(state)
        if unknown:
            raise FickError(f"StateSpec names components {sorted(unknown)} that the state lacks: "
                            f"state has {sorted(state)}")

    # Helpers used by losses, samplers and guidance.
    def noise(self, like: Mapping[str, Tensor], generator=None) -> dict[str, Tensor]:
        return {k: self.space(k).noise(v, self.index.get(k), self.num_samples, generator)
                for k, v in like.items()}

    def project(self, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {k: (self.space(k).project(v, self.index.get(k), self.num_samples)
                    if self.space(k).needs_projection else v) for k, v in state.items()}

    @property
    def needs_projection(self) -> bool:
        return any(s.needs_projection for s in self.spaces.values())

    def broadcast(self, coef: Tensor, name: str, like: Tensor) -> Tensor:
        return per_sample(coef, like, self.index.get(name))

    def reduce(self, name: str, elementwise: Tensor) -> Tensor:
        return self.space(name).reduce(elementwise, self.index.get(name), self.num_samples)

    def dof(self, state: Mapping[str, Tensor]) -> Tensor:
        total = None
        for k, v in state.items():
            d = self.space(k).dof(v, self.index.get(k), self.num_samples)
            total = d if total is None else total + d
        return total


_GAUSSIAN = GaussianSpace()


def as_state(x) -> tuple[dict[str, Tensor], bool]:
    """``(state dict, was_plain_tensor)``; a plain tensor becomes ``{"x": tensor}``."""
    if isinstance(x, Tensor):
        return {"x": x}, True
    if isinstance(x, Mapping):
        return dict(x), False
    raise FickError(f"a state must be a tensor or a dict of tensors, got {type(x).__name__}")


def unwrap_like(state: dict[str, Tensor], plain: bool):
    """Inverse of :func:`as_state`."""
    return state["x"] if plain else state
