"""A Vocos-style neural vocoder: ConvNeXt blocks over mel frames, iSTFT head.

Vocos (Siuzdiak 2023) keeps the whole network at the frame rate and predicts the STFT
(log-magnitude and phase) of every frame; an inverse STFT with hop = the mel hop makes the
waveform. That is far cheaper per CPU-minute than HiFi-GAN's stack of transposed convolutions at
the sample rate, which is why it was picked here. Trained by ``vocoder_task.VocoderTask``: mel L1
+ multi-resolution STFT loss, and optionally adversarial + feature-matching losses against the
discriminators of ``discriminators``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ConvNeXtBlock", "VocosVocoder", "multi_resolution_stft_loss"]


class ConvNeXtBlock(nn.Module):
    """Depthwise conv (k=7) -> LayerNorm -> pointwise MLP, with a learned layer scale."""

    def __init__(self, dim: int, layer_scale: float = 1e-2):
        super().__init__()
        self.dw = nn.Conv1d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1, self.pw2 = nn.Linear(dim, 3 * dim), nn.Linear(3 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x):  # (B, dim, frames)
        h = self.dw(x).transpose(1, 2)
        h = self.pw2(F.gelu(self.pw1(self.norm(h))))
        return x + (self.gamma * h).transpose(1, 2)


class VocosVocoder(nn.Module):
    """``forward(log_mel (B, n_mels, frames)) -> audio (B, frames * hop)``; input unnormalised
    natural-log mel (the front end's ``log_mel``)."""

    def __init__(
        self,
        n_mels: int = 64,
        hop_length: int = 160,
        n_fft: int = 640,
        dim: int = 192,
        layers: int = 6,
    ):
        super().__init__()
        self.hop_length, self.n_fft = hop_length, n_fft
        self.embed = nn.Conv1d(n_mels, dim, 7, padding=3)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.blocks = nn.ModuleList(ConvNeXtBlock(dim, 1.0 / layers) for _ in range(layers))
        self.final_norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, n_fft + 2)  # log-magnitude and phase of n_fft/2 + 1 bins
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        frames = log_mel.shape[-1]
        h = self.norm(self.embed(log_mel).transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            h = block(h)
        h = self.head(self.final_norm(h.transpose(1, 2))).transpose(1, 2)
        log_mag, phase = h.chunk(2, dim=1)
        mag = torch.exp(log_mag).clamp(max=1e2)  # Vocos' clip: keeps early training finite
        spec = torch.polar(mag, phase)
        # One extra frame so that a centred iSTFT returns exactly frames * hop samples.
        spec = torch.cat([spec, spec[..., -1:]], dim=-1)
        audio = torch.istft(
            spec,
            self.n_fft,
            self.hop_length,
            window=self.window.to(spec.real.dtype),
            center=True,
            length=frames * self.hop_length,
        )
        return audio


def multi_resolution_stft_loss(
    pred: torch.Tensor, target: torch.Tensor, resolutions=((512, 128), (1024, 256), (256, 64))
) -> torch.Tensor:
    """Multi-resolution STFT loss (Parallel WaveGAN), (B,): batch spectral convergence plus each
    clip's L1 of log magnitudes, averaged over (n_fft, hop) resolutions."""
    total = pred.new_zeros(pred.shape[0])
    for n_fft, hop in resolutions:
        window = torch.hann_window(n_fft, device=pred.device, dtype=pred.dtype)
        sp = torch.stft(pred, n_fft, hop, window=window, return_complex=True).abs().clamp(min=1e-7)
        st = (
            torch.stft(target, n_fft, hop, window=window, return_complex=True).abs().clamp(min=1e-7)
        )
        # Spectral convergence over the whole batch: a near-silent crop would make a
        # per-clip ratio explode.
        sc = (st - sp).norm() / st.norm().clamp(min=1e-7)
        mag = (st.log() - sp.log()).abs().flatten(1).mean(1)
        total = total + sc + mag
    return total / len(resolutions)
