"""A small KL-regularised autoencoder (the latent space of latent diffusion, Rombach et al. 2022).

The encoder halves the resolution ``log2(downsample)`` times and outputs a diagonal Gaussian over
``latent_channels`` maps; the decoder mirrors it. Trained with L1 reconstruction plus a small KL
weight, so latents stay close to a unit Gaussian scale but keep detail. The video model encodes
frames one by one with the same network.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["KLVAE", "vae_loss"]


def _block(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, padding=1),
        nn.GroupNorm(min(8, out_ch), out_ch),
        nn.SiLU(),
        nn.Conv2d(out_ch, out_ch, 3, padding=1),
        nn.GroupNorm(min(8, out_ch), out_ch),
        nn.SiLU(),
    )


class KLVAE(nn.Module):
    def __init__(
        self, channels: int, latent_channels: int = 4, downsample: int = 2, width: int = 32
    ):
        super().__init__()
        steps = int(round(math.log2(downsample)))
        if 2**steps != downsample or steps < 1:
            raise ValueError(f"downsample must be a power of two >= 2, got {downsample}")
        self.channels, self.latent_channels, self.downsample = channels, latent_channels, downsample
        enc: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1)]
        dec: list[nn.Module] = [
            nn.Conv2d(latent_channels, width * 2, 3, padding=1),
            _block(width * 2, width * 2),
        ]
        for _ in range(steps):
            enc += [_block(width, width), nn.Conv2d(width, width, 3, stride=2, padding=1)]
        enc += [_block(width, width * 2), nn.Conv2d(width * 2, 2 * latent_channels, 3, padding=1)]
        ch = width * 2
        for _ in range(steps):
            dec += [nn.Upsample(scale_factor=2, mode="nearest"), _block(ch, width)]
            ch = width
        dec += [nn.Conv2d(width, channels, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, C, H, W) -> posterior mean and log-variance, (B, latent, H/d, W/d) each."""
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        mean, logvar = self.encode(x)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + torch.exp(0.5 * logvar) * noise
        return self.decode(z), mean, logvar


def vae_loss(
    x: torch.Tensor, recon: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor, kl_weight: float
):
    """Per-sample L1 reconstruction (mean over pixels) and KL to N(0, I) (mean over latents)."""
    l1 = (recon - x).abs().flatten(1).mean(1)
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).mean(1)
    return l1 + kl_weight * kl, l1, kl
