"""The noise-process contract every schedule implements (``Process``) and Karras' sigmas.

See :mod:`fick.core.schedules` for the processes themselves.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["Process", "karras_sigmas"]


def karras_sigmas(sigma_min: float, sigma_max: float, n: int, rho: float = 7.0) -> list[float]:
    """EDM's rho-spaced sigmas from sigma_max down to sigma_min (n values)."""
    if n == 1:
        return [float(sigma_max)]
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return [(hi + i / (n - 1) * (lo - hi)) ** rho for i in range(n)]


class Process:
    """Common interface. ``t`` is a tensor (one value per sample) in the process's own time."""

    kind: str = ""
    discrete: bool = False

    def alpha(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def sigma(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def log_snr(self, t: Tensor) -> Tensor:
        return 2 * (torch.log(self.alpha(t)) - torch.log(self.sigma(t)))

    def add_noise(self, x0: Tensor, eps: Tensor, t: Tensor) -> Tensor:
        """alpha(t) x0 + sigma(t) eps for a dense batch-first tensor."""
        shape = (-1,) + (1,) * (x0.dim() - 1)
        t = torch.as_tensor(t, device=x0.device)
        return (self.alpha(t).reshape(shape).to(x0.dtype) * x0
                + self.sigma(t).reshape(shape).to(x0.dtype) * eps)

    def sample_t(self, n: int, generator: torch.Generator | None = None,
                 device=None) -> Tensor:
        raise NotImplementedError

    def model_time(self, t: Tensor) -> Tensor:
        """The time value the network receives (identity except EDM's c_noise)."""
        return t

    def level_from_ve_sigma(self, s: float) -> tuple[float, float, float]:
        """(process time, alpha, sigma) of the level whose sigma/alpha equals ``s``."""
        raise NotImplementedError

    def ve_sigma_range(self) -> tuple[float, float]:
        """(smallest, largest) sigma/alpha reached by the process (bounds for Karras grids)."""
        raise NotImplementedError

    def prior_scale(self, sigma: float) -> float:
        """Standard deviation of pure noise at the first sampling level."""
        return 1.0


# ----------------------------------------------------------------------------- discrete VP
