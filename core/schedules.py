"""Noise processes: x_t = alpha(t) x0 + sigma(t) eps.

Four kinds, each with its own notion of time ``t`` (what training draws and what the model is
given, except EDM whose network receives c_noise):

- ``DiscreteVP``: T training steps, t in {0, ..., T-1} (fractional t interpolates sigma/alpha
  linearly as diffusers does), alpha_t^2 = prod(1 - beta), alpha^2 + sigma^2 = 1.
- ``ContinuousVP``: t in [0, 1], alpha^2 = sigmoid(log-SNR(t)).
- ``EDMProcess`` (Karras et al. 2022): variance exploding, t = sigma, alpha = 1.
- ``FlowProcess``: x_t = (1 - t) x0 + t eps, t in [0, 1].

Schedules are built by name: ``linear``, ``scaled_linear``, ``cosine`` (squaredcos_cap_v2),
``sigmoid``, ``polynomial`` (EDM's polynomial_2), ``from_betas``, ``vp_continuous``, ``edm``,
``flow``; :func:`by_name` resolves any of them from a config string.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .edm_flow import EDMProcess, FlowProcess, edm, flow
from .errors import FickError
from .process import Process, karras_sigmas

__all__ = ["Process", "DiscreteVP", "ContinuousVP", "EDMProcess", "FlowProcess", "linear",
           "scaled_linear", "cosine", "sigmoid", "polynomial", "from_betas",
           "rescale_zero_terminal_snr", "vp_continuous", "edm", "flow", "by_name",
           "karras_sigmas"]


class DiscreteVP(Process):
    """Discrete variance-preserving process with T training steps (DDPM)."""

    kind = "vp"
    discrete = True

    def __init__(self, betas: Tensor, name: str = "custom"):
        betas = torch.as_tensor(betas, dtype=torch.float64).flatten().cpu()
        if betas.numel() < 2 or bool((betas <= 0).any()) or bool((betas > 1).any()):
            raise FickError("betas must be a 1-D sequence of at least 2 values in (0, 1]")
        self.name = name
        self.betas = betas
        self.alphas_cumprod = torch.cumprod(1 - betas, 0)
        self.num_steps = betas.numel()
        # sqrt((1 - abar) / abar): diffusers' "sigmas". A zero-terminal-SNR schedule has
        # abar = 0 at T: like diffusers' Euler, use 2**-24 there so sigma stays finite.
        abar = self.alphas_cumprod.clamp_min(2.0**-24)
        self.ve_sigmas = ((1 - abar) / abar).sqrt()
        self._cache: dict = {}

    def __repr__(self) -> str:
        return f"DiscreteVP({self.name}, T={self.num_steps})"

    def _table(self, name: str, ref: Tensor) -> Tensor:
        key = (name, ref.device)
        if key not in self._cache:
            self._cache[key] = getattr(self, name).to(ref.device)
        return self._cache[key]

    def _interp(self, name: str, t: Tensor) -> Tensor:
        table = self._table(name, t)
        t = t.to(torch.float64).clamp(0, self.num_steps - 1)
        lo = t.floor().long().clamp(max=self.num_steps - 2)
        w = t - lo
        return table[lo] * (1 - w) + table[lo + 1] * w

    def alpha(self, t: Tensor) -> Tensor:
        t = torch.as_tensor(t)
        if not t.is_floating_point() or bool((t == t.round()).all()):
            return self._table("alphas_cumprod", t)[t.long()].sqrt()
        return 1 / (1 + self._interp("ve_sigmas", t) ** 2).sqrt()

    def sigma(self, t: Tensor) -> Tensor:
        t = torch.as_tensor(t)
        if not t.is_floating_point() or bool((t == t.round()).all()):
            return (1 - self._table("alphas_cumprod", t)[t.long()]).sqrt()
        s = self._interp("ve_sigmas", t)
        return s / (1 + s**2).sqrt()

    def sample_t(self, n, generator=None, device=None):
        gen_device = generator.device if generator is not None else device
        t = torch.randint(0, self.num_steps, (n,), generator=generator, device=gen_device)
        return t.to(device=device, dtype=torch.float32)

    def t_from_ve_sigma(self, s: float) -> float:
        """Fractional timestep of a sigma/alpha value (diffusers' ``_sigma_to_t``)."""
        log_sigmas = self.ve_sigmas.clamp_min(1e-30).log()
        ls = math.log(max(s, 1e-10))
        above = int((ls - log_sigmas >= 0).sum())  # log_sigmas increase with t
        lo = min(max(above - 1, 0), self.num_steps - 2)
        low, high = float(log_sigmas[lo]), float(log_sigmas[lo + 1])
        w = min(max((low - ls) / (low - high), 0.0), 1.0)
        return (1 - w) * lo + w * (lo + 1)

    def level_from_ve_sigma(self, s):
        a = 1 / math.sqrt(1 + s * s)
        return self.t_from_ve_sigma(s), a, s * a

    def ve_sigma_range(self):
        finite = self.ve_sigmas[torch.isfinite(self.ve_sigmas)]
        return float(finite[0]), float(finite[-1])


def _check_steps(num_steps: int) -> None:
    if int(num_steps) < 2:
        raise FickError(f"num_steps must be >= 2, got {num_steps}")


def linear(num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> DiscreteVP:
    """DDPM's linear betas."""
    _check_steps(num_steps)
    return DiscreteVP(torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64),
                      "linear")


def scaled_linear(num_steps: int = 1000, beta_start: float = 0.00085,
                  beta_end: float = 0.012) -> DiscreteVP:
    """Latent diffusion's betas: linear in sqrt(beta)."""
    _check_steps(num_steps)
    b = torch.linspace(beta_start**0.5, beta_end**0.5, num_steps, dtype=torch.float64) ** 2
    return DiscreteVP(b, "scaled_linear")


def cosine(num_steps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> DiscreteVP:
    """Nichol & Dhariwal's cosine schedule (diffusers' squaredcos_cap_v2)."""
    _check_steps(num_steps)

    def f(u):
        return math.cos((u + s) / (1 + s) * math.pi / 2) ** 2

    b = [min(1 - f((i + 1) / num_steps) / f(i / num_steps), max_beta) for i in range(num_steps)]
    return DiscreteVP(torch.tensor(b, dtype=torch.float64), "cosine")


def sigmoid(num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02,
            low: float = -6.0, high: float = 6.0) -> DiscreteVP:
    """Betas following a sigmoid from beta_start to beta_end (GeoDiff; diffusers' 'sigmoid')."""
    _check_steps(num_steps)
    b = torch.sigmoid(torch.linspace(low, high, num_steps, dtype=torch.float64))
    return DiscreteVP(b * (beta_end - beta_start) + beta_start, "sigmoid")


def polynomial(num_steps: int = 1000, power: float = 2.0, precision: float = 1e-5) -> DiscreteVP:
    """EDM's ``polynomial_2`` (Hoogeboom et al. 2022) on T steps.

    alpha^2(t) = (1 - (t/T)^power)^2 on t = 0..T, consecutive ratios clipped to >= 0.001, then
    alpha^2 <- (1 - 2 s) alpha^2 + s. EDM's network sees t = 0..T (T+1 levels, t=0 clean);
    here timestep i = 0..T-1 is EDM's level i + 1, so alpha_cumprod[i] = alpha^2((i + 1) / T).
    """
    _check_steps(num_steps)
    steps = num_steps + 1
    x = torch.linspace(0, steps, steps, dtype=torch.float64)
    a2 = (1 - (x / steps) ** power) ** 2
    # EDM's clip_noise_schedule: clip the ratios, then re-accumulate.
    a2 = torch.cat([torch.ones(1, dtype=torch.float64), a2])
    ratios = (a2[1:] / a2[:-1]).clamp(min=0.001, max=1.0)
    a2 = torch.cumprod(ratios, 0)
    a2 = (1 - 2 * precision) * a2 + precision
    abar = a2[1:]
    prev = torch.cat([a2[:1], abar[:-1]])
    betas = 1 - abar / prev
    betas[0] = 1 - abar[0]
    return DiscreteVP(betas.clamp(min=1e-12, max=1.0), f"polynomial_{power:g}")


def from_betas(betas) -> DiscreteVP:
    """A discrete VP process from user-given betas."""
    return DiscreteVP(torch.as_tensor(betas, dtype=torch.float64), "custom")


def rescale_zero_terminal_snr(schedule: DiscreteVP) -> DiscreteVP:
    """Lin et al. 2023: shift and scale sqrt(abar) so the last step has zero SNR.

    Use with v prediction (epsilon prediction cannot denoise pure noise).
    """
    a = schedule.alphas_cumprod.sqrt()
    a0, at = a[0].clone(), a[-1].clone()
    a = (a - at) * a0 / (a0 - at)
    abar = a**2
    prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
    betas = 1 - abar / prev
    out = DiscreteVP(betas.clamp(max=1.0), schedule.name + "+zero_snr")
    return out


# --------------------------------------------------------------------------- continuous VP
class ContinuousVP(Process):
    """Continuous VP process, t in [0, 1]; alpha^2 = sigmoid(lambda(t)), sigma^2 = 1 - alpha^2."""

    kind = "vp"

    def __init__(self, kind: str = "cosine", beta_min: float = 0.1, beta_max: float = 20.0,
                 logsnr_min: float = -15.0, logsnr_max: float = 15.0, power: float = 2.0,
                 precision: float = 1e-5, t_min: float = 1e-3):
        if kind not in ("cosine", "linear", "polynomial"):
            raise FickError(f"unknown continuous VP kind {kind!r}: "
                            "use cosine, linear or polynomial")
        self.name, self.beta_min, self.beta_max = kind, beta_min, beta_max
        self.logsnr_min, self.logsnr_max = logsnr_min, logsnr_max
        self.power, self.precision, self.t_min = power, precision, t_min

    def __repr__(self) -> str:
        return f"ContinuousVP({self.name})"

    def log_snr(self, t):
        t = torch.as_tensor(t, dtype=torch.float64)
        if self.name == "cosine":
            # Cosine schedule in log-SNR form (Kingma et al. 2021), clipped to [min, max].
            b = math.atan(math.exp(-0.5 * self.logsnr_max))
            a = math.atan(math.exp(-0.5 * self.logsnr_min)) - b
            return -2 * torch.log(torch.tan(a * t + b))
        if self.name == "linear":
            # VP-SDE: log abar = -(beta_min t + (beta_max - beta_min) t^2 / 2).
            log_abar = -(self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2)
            return log_abar - torch.log((-torch.expm1(log_abar)).clamp_min(1e-300))
        a2 = (1 - t**self.power) ** 2
        a2 = (1 - 2 * self.precision) * a2 + self.precision
        return torch.log(a2) - torch.log1p(-a2)

    def alpha(self, t):
        return torch.sigmoid(self.log_snr(t)).sqrt()

    def sigma(self, t):
        return torch.sigmoid(-self.log_snr(t)).sqrt()

    def sample_t(self, n, generator=None, device=None):
        gen_device = generator.device if generator is not None else device
        u = torch.rand((n,), generator=generator, device=gen_device, dtype=torch.float64)
        return (self.t_min + (1 - self.t_min) * u).to(device=device, dtype=torch.float32)

    def t_from_ve_sigma(self, s: float) -> float:
        # log-SNR is strictly decreasing in t: bisection to double precision.
        target = -2 * math.log(max(s, 1e-300))
        lo, hi = 0.0, 1.0
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            if float(self.log_snr(torch.tensor(mid))) > target:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)

    def level_from_ve_sigma(self, s):
        a = 1 / math.sqrt(1 + s * s)
        return self.t_from_ve_sigma(s), a, s * a

    def ve_sigma_range(self):
        ls = self.log_snr(torch.tensor([self.t_min, 1.0], dtype=torch.float64))
        return math.exp(-0.5 * float(ls[0])), math.exp(-0.5 * float(ls[1]))


def vp_continuous(kind: str = "cosine", **kwargs) -> ContinuousVP:
    """Continuous VP process (``cosine``, ``linear`` VP-SDE, or ``polynomial``), t in [0, 1]."""
    return ContinuousVP(kind, **kwargs)


_BUILDERS = {
    "linear": linear, "scaled_linear": scaled_linear, "cosine": cosine,
    "squaredcos_cap_v2": cosine, "sigmoid": sigmoid, "polynomial": polynomial,
    "polynomial_2": polynomial, "vp_continuous": vp_continuous, "edm": edm, "flow": flow,
    "from_betas": from_betas,
}


def by_name(name: str, **kwargs) -> Process:
    """Build a process from its name (for YAML configs), e.g. ``by_name("cosine", num_steps=500)``.

    ``zero_terminal_snr=True`` applies :func:`rescale_zero_terminal_snr` to a discrete schedule.
    """
    zero_snr = kwargs.pop("zero_terminal_snr", False)
    if name not in _BUILDERS:
        raise FickError(f"unknown schedule {name!r}: use one of {sorted(_BUILDERS)}")
    try:
        process = _BUILDERS[name](**kwargs)
    except TypeError as err:
        raise FickError(f"bad options for schedule {name!r}: {err}") from None
    if zero_snr:
        if not isinstance(process, DiscreteVP):
            raise FickError("zero_terminal_snr applies to discrete VP schedules only")
        process = rescale_zero_terminal_snr(process)
    return process
