"""A KL-regularised convolutional VAE over standardised log-mel spectrograms.

The mel image (1 x n_mels x frames) is downsampled by 2 per extra entry of ``channel_mult`` in
both frequency and time (AudioLDM: 4x) into ``latent_channels`` channels. Fully convolutional,
so any number of frames works: time is padded (replicate) to a multiple of the factor and the
decoder's output is cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ResBlock2d", "SpectrogramVAE", "multi_resolution_spectral_loss"]


def _norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, ch), ch)


class ResBlock2d(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.block = nn.Sequential(
            _norm(cin),
            nn.SiLU(),
            nn.Conv2d(cin, cout, 3, padding=1),
            _norm(cout),
            nn.SiLU(),
            nn.Conv2d(cout, cout, 3, padding=1),
        )
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x):
        return self.skip(x) + self.block(x)


class SpectrogramVAE(nn.Module):
    """``encode(mel (B, M, T)) -> (mean, logvar)`` (B, C, M/f, T/f); ``decode(z) -> mel``."""

    def __init__(
        self,
        n_mels: int = 64,
        channels: int = 32,
        channel_mult=(1, 2, 4),
        latent_channels: int = 4,
        num_res_blocks: int = 1,
    ):
        super().__init__()
        self.factor = 2 ** (len(channel_mult) - 1)
        if n_mels % self.factor:
            raise ValueError(f"n_mels {n_mels} must be divisible by the VAE factor {self.factor}")
        self.latent_channels = latent_channels
        widths = [channels * m for m in channel_mult]
        enc = [nn.Conv2d(1, widths[0], 3, padding=1)]
        for i, w in enumerate(widths):
            cin = widths[max(i - 1, 0)]
            for j in range(num_res_blocks):
                enc.append(ResBlock2d(cin if j == 0 else w, w))
            if i < len(widths) - 1:
                enc.append(nn.Conv2d(w, w, 3, stride=2, padding=1))
        enc += [
            ResBlock2d(widths[-1], widths[-1]),
            _norm(widths[-1]),
            nn.SiLU(),
            nn.Conv2d(widths[-1], 2 * latent_channels, 3, padding=1),
        ]
        self.encoder = nn.Sequential(*enc)
        dec = [
            nn.Conv2d(latent_channels, widths[-1], 3, padding=1),
            ResBlock2d(widths[-1], widths[-1]),
        ]
        rev = widths[::-1]
        for i, w in enumerate(rev):
            cin = rev[max(i - 1, 0)]
            for j in range(num_res_blocks):
                dec.append(ResBlock2d(cin if j == 0 else w, w))
            if i < len(rev) - 1:
                dec += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(w, w, 3, padding=1)]
        dec += [_norm(rev[-1]), nn.SiLU(), nn.Conv2d(rev[-1], 1, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)

    def latent_frames(self, frames: int) -> int:
        return -(-frames // self.factor)

    def encode(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        frames = mel.shape[-1]
        pad = self.latent_frames(frames) * self.factor - frames
        x = (F.pad(mel, (0, pad), mode="replicate") if pad else mel).unsqueeze(1)
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor, frames: int | None = None) -> torch.Tensor:
        mel = self.decoder(z).squeeze(1)
        return mel[..., :frames] if frames is not None else mel

    def forward(self, mel: torch.Tensor, generator: torch.Generator | None = None):
        mean, logvar = self.encode(mel)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + torch.exp(0.5 * logvar) * noise
        return self.decode(z, mel.shape[-1]), mean, logvar


def multi_resolution_spectral_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    scales=(1, 2, 4),
) -> torch.Tensor:
    """Per-sample spectral loss of standardised log-mels (B, M, T) at several resolutions.

    At each scale the *linear* mel magnitudes (exp of the de-standardised log-mel) are
    average-pooled over (2^k x 2^k) cells and compared with spectral convergence
    ||S - S_hat||_F / ||S||_F plus the L1 of their logs: the linear term weighs loud regions,
    the log term quiet ones, and pooling rewards getting the coarse energy envelope right.
    """
    s_true = torch.exp(target * std + mean)
    s_pred = torch.exp(pred * std + mean)
    total = pred.new_zeros(pred.shape[0])
    for k in scales:
        a = F.avg_pool2d(s_true.unsqueeze(1), k, ceil_mode=True) if k > 1 else s_true.unsqueeze(1)
        b = F.avg_pool2d(s_pred.unsqueeze(1), k, ceil_mode=True) if k > 1 else s_pred.unsqueeze(1)
        sc = (a - b).flatten(1).norm(dim=1) / a.flatten(1).norm(dim=1).clamp(min=1e-8)
        log_l1 = (
            (torch.log(a.clamp(min=1e-5)) - torch.log(b.clamp(min=1e-5))).abs().flatten(1).mean(1)
        )
        total = total + sc + log_l1
    return total / len(scales)
