"""The two processes outside the variance-preserving family: EDM (variance exploding, Karras
et al. 2022) and flow matching (linear interpolant). Re-exported by :mod:`fick.core.schedules`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .errors import FickError
from .process import Process

__all__ = ["EDMProcess", "FlowProcess", "edm", "flow"]


# ------------------------------------------------------------------------------------- EDM
class EDMProcess(Process):
    """Karras et al. 2022 (EDM): x = x0 + sigma eps, t = sigma.

    The network is preconditioned: it receives ``c_in(sigma) * x`` and ``c_noise(sigma) =
    ln(sigma) / 4``; with prediction ``"edm"`` it returns F and the denoiser is
    ``D = c_skip x + c_out F``.
    """

    kind = "edm"

    def __init__(self, sigma_min=0.002, sigma_max=80.0, sigma_data=0.5, rho=7.0,
                 p_mean=-1.2, p_std=1.2):
        self.sigma_min, self.sigma_max, self.sigma_data = sigma_min, sigma_max, sigma_data
        self.rho, self.p_mean, self.p_std = rho, p_mean, p_std

    def __repr__(self) -> str:
        return f"EDMProcess(sigma_data={self.sigma_data})"

    def alpha(self, t):
        t = torch.as_tensor(t)
        return torch.ones_like(t, dtype=torch.float64)

    def sigma(self, t):
        return torch.as_tensor(t).to(torch.float64)

    def log_snr(self, t):
        return -2 * torch.log(torch.as_tensor(t, dtype=torch.float64))

    def precondition(self, sigma):
        """(c_skip, c_out, c_in, c_noise) of EDM Table 1."""
        sd = self.sigma_data
        if isinstance(sigma, Tensor):
            s2 = sigma**2 + sd**2
            return sd**2 / s2, sigma * sd / s2.sqrt(), 1 / s2.sqrt(), sigma.log() / 4
        s2 = sigma * sigma + sd * sd
        return sd * sd / s2, sigma * sd / math.sqrt(s2), 1 / math.sqrt(s2), math.log(sigma) / 4

    def model_time(self, t):
        return torch.as_tensor(t).log() / 4

    def sample_t(self, n, generator=None, device=None):
        gen_device = generator.device if generator is not None else device
        z = torch.randn((n,), generator=generator, device=gen_device, dtype=torch.float64)
        return (self.p_mean + self.p_std * z).exp().to(device=device, dtype=torch.float32)

    def level_from_ve_sigma(self, s):
        return s, 1.0, s

    def ve_sigma_range(self):
        return self.sigma_min, self.sigma_max

    def prior_scale(self, sigma):
        return sigma


def edm(sigma_min=0.002, sigma_max=80.0, sigma_data=0.5, rho=7.0, p_mean=-1.2,
        p_std=1.2) -> EDMProcess:
    """EDM / Karras process with its preconditioning and log-normal training sigmas."""
    return EDMProcess(sigma_min, sigma_max, sigma_data, rho, p_mean, p_std)


# ------------------------------------------------------------------------------------ flow
class FlowProcess(Process):
    """Flow matching with the linear interpolant x_t = (1 - t) x0 + t eps; velocity eps - x0.

    ``shift`` maps t -> s t / (1 + (s - 1) t) (SD3's timestep shift) for sampling grids and
    training draws; ``num_train_timesteps`` only fixes the lowest grid point at 1/T as
    diffusers' FlowMatchEulerDiscreteScheduler does; ``time_distribution`` is ``uniform`` or
    ``logit-normal`` (SD3).
    """

    kind = "flow"

    def __init__(self, shift: float = 1.0, num_train_timesteps: int = 1000,
                 time_distribution: str = "uniform"):
        if time_distribution not in ("uniform", "logit-normal"):
            raise FickError(f"unknown time_distribution {time_distribution!r}: "
                            "use uniform or logit-normal")
        self.shift, self.num_train_timesteps = float(shift), int(num_train_timesteps)
        self.time_distribution = time_distribution

    def __repr__(self) -> str:
        return f"FlowProcess(shift={self.shift:g})"

    def shift_t(self, t):
        s = self.shift
        return s * t / (1 + (s - 1) * t)

    def alpha(self, t):
        return 1 - torch.as_tensor(t, dtype=torch.float64)

    def sigma(self, t):
        return torch.as_tensor(t, dtype=torch.float64)

    def sample_t(self, n, generator=None, device=None):
        gen_device = generator.device if generator is not None else device
        if self.time_distribution == "uniform":
            u = torch.rand((n,), generator=generator, device=gen_device, dtype=torch.float64)
        else:
            u = torch.sigmoid(torch.randn((n,), generator=generator, device=gen_device,
                                          dtype=torch.float64))
        return self.shift_t(u).to(device=device, dtype=torch.float32)

    def level_from_ve_sigma(self, s):
        t = s / (1 + s)
        return t, 1 - t, t

    def ve_sigma_range(self):
        t = 1.0 / self.num_train_timesteps
        return t / (1 - t), math.inf

    def prior_scale(self, sigma):
        return sigma


def flow(shift: float = 1.0, num_train_timesteps: int = 1000,
         time_distribution: str = "uniform") -> FlowProcess:
    """Flow matching (linear interpolant, velocity targets) with timestep shift."""
    return FlowProcess(shift, num_train_timesteps, time_distribution)
