"""Sinusoidal features of a (possibly fractional) diffusion time, shared by every network.

``sinusoidal_embedding(t, dim)``: (B,) -> (B, dim), frequencies
``exp(-ln(max_period) i / half)`` for i < half = dim // 2 (DDPM / DiT / EDM's positional
embedding); ``order`` puts the cosines first (DDPM, DiT, the image and audio networks) or the
sines (the molecules' EGNN); an odd ``dim`` gets a zero last column. The network's time input
is the process's model time times :func:`fick.core.denoiser.network_time_scale` (timesteps
0..T-1, or 1000 t for continuous time), applied by :class:`fick.core.denoiser.Denoiser`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .errors import FickError

__all__ = ["sinusoidal_embedding"]


def sinusoidal_embedding(t: Tensor, dim: int, max_period: float = 10000.0, *,
                         order: str = "cos-sin", dtype: torch.dtype = torch.float32) -> Tensor:
    """Sinusoidal features (B, dim) of times ``t`` (any shape, flattened), computed in
    ``dtype`` (float32 by default, whatever t's dtype)."""
    if order not in ("cos-sin", "sin-cos"):
        raise FickError(f"unknown embedding order {order!r}: use cos-sin or sin-cos")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=dtype)
                      / half)
    args = t.to(dtype).reshape(-1, 1) * freqs.reshape(1, -1)
    parts = [torch.cos(args), torch.sin(args)]
    emb = torch.cat(parts if order == "cos-sin" else parts[::-1], dim=1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=1)
    return emb
