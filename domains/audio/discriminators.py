"""Waveform discriminators and GAN losses of the neural vocoder.

- ``MultiPeriodDiscriminator`` (HiFi-GAN, Kong 2020): the waveform folded into (L/p, p) for
  periods 2, 3, 5, 7, 11, each read by a stack of (k x 1) 2D convolutions, so that every
  sub-discriminator judges one periodic structure of the signal.
- ``MultiResolutionDiscriminator`` (UnivNet / Vocos): 2D convolutions over the log-magnitude
  spectrogram at several (n_fft, hop) resolutions, which judges harmonics and their smearing.

Each sub-discriminator returns its logits and the feature maps of every layer (for the
feature-matching loss). ``width`` scales every layer: the HiFi-GAN widths (32 .. 1024) cost far
more than a small CPU generator, so the defaults here are narrow.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

__all__ = [
    "MultiPeriodDiscriminator",
    "MultiResolutionDiscriminator",
    "discriminator_loss",
    "feature_matching_loss",
    "generator_adversarial_loss",
]


def _logits_and_features(convs: nn.ModuleList, post: nn.Module, x: torch.Tensor):
    """A sub-discriminator's reading of ``x``: its logits and the feature map of every layer
    (for the feature-matching loss)."""
    feats = []
    for conv in convs:
        x = F.leaky_relu(conv(x), 0.1)
        feats.append(x)
    x = post(x)
    feats.append(x)
    return x.flatten(1), feats


class _PeriodDiscriminator(nn.Module):
    def __init__(self, period: int, width: int):
        super().__init__()
        self.period = period
        chans = [1, width, 4 * width, 8 * width, 8 * width]
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(a, b, (5, 1), (3 if i < 3 else 1, 1), padding=(2, 0)))
            for i, (a, b) in enumerate(zip(chans[:-1], chans[1:]))
        )
        self.post = weight_norm(nn.Conv2d(chans[-1], 1, (3, 1), padding=(1, 0)))

    def forward(self, audio):  # (B, L)
        b, length = audio.shape
        pad = (-length) % self.period
        x = F.pad(audio, (0, pad), mode="reflect") if pad else audio
        x = x.reshape(b, 1, -1, self.period)
        return _logits_and_features(self.convs, self.post, x)


class MultiPeriodDiscriminator(nn.Module):
    def __init__(self, periods=(2, 3, 5, 7, 11), width: int = 8):
        super().__init__()
        self.discriminators = nn.ModuleList(_PeriodDiscriminator(p, width) for p in periods)

    def forward(self, audio):
        return [d(audio) for d in self.discriminators]


class _SpectrogramDiscriminator(nn.Module):
    def __init__(self, n_fft: int, hop: int, width: int):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.convs = nn.ModuleList(
            [
                # stride 2 over frequency at once: halves the cost of every later layer
                weight_norm(nn.Conv2d(1, width, (7, 5), (2, 1), padding=(3, 2))),
                weight_norm(nn.Conv2d(width, width, (5, 3), (2, 1), padding=(2, 1))),
                weight_norm(nn.Conv2d(width, width, (5, 3), (2, 1), padding=(2, 1))),
                weight_norm(nn.Conv2d(width, width, (5, 3), (2, 1), padding=(2, 1))),
                weight_norm(nn.Conv2d(width, width, 3, padding=1)),
            ]
        )
        self.post = weight_norm(nn.Conv2d(width, 1, 3, padding=1))

    def forward(self, audio):
        spec = torch.stft(
            audio, self.n_fft, self.hop, window=self.window.to(audio.dtype), return_complex=True
        )
        # log(1 + |S|): finite at silence, compresses the dynamic range like a listener does
        x = torch.log1p(spec.abs()).unsqueeze(1)  # (B, 1, freq, frames)
        return _logits_and_features(self.convs, self.post, x)


class MultiResolutionDiscriminator(nn.Module):
    def __init__(self, resolutions=((512, 128), (1024, 256), (256, 64)), width: int = 8):
        super().__init__()
        self.discriminators = nn.ModuleList(
            _SpectrogramDiscriminator(n_fft, hop, width) for n_fft, hop in resolutions
        )

    def forward(self, audio):
        return [d(audio) for d in self.discriminators]


def discriminator_loss(real_logits, fake_logits, kind: str = "hinge") -> torch.Tensor:
    """Mean over sub-discriminators: hinge (Vocos) relu(1 - D(x)) + relu(1 + D(G(z))), or
    least squares (HiFi-GAN) (1 - D(x))^2 + D(G(z))^2."""
    total = 0.0
    for r, f in zip(real_logits, fake_logits):
        if kind == "hinge":
            total = total + F.relu(1 - r).mean() + F.relu(1 + f).mean()
        else:
            total = total + (1 - r).pow(2).mean() + f.pow(2).mean()
    return total / len(real_logits)


def generator_adversarial_loss(fake_logits, kind: str = "hinge") -> torch.Tensor:
    """Hinge: relu(1 - D(G(z))); least squares: (1 - D(G(z)))^2; mean over sub-discriminators."""
    total = 0.0
    for f in fake_logits:
        total = total + (F.relu(1 - f).mean() if kind == "hinge" else (1 - f).pow(2).mean())
    return total / len(fake_logits)


def feature_matching_loss(real_feats, fake_feats) -> torch.Tensor:
    """Mean L1 between the discriminators' feature maps of real and generated audio."""
    terms = [
        (r.detach() - f).abs().mean()
        for real, fake in zip(real_feats, fake_feats)
        for r, f in zip(real, fake)
    ]
    return torch.stack(terms).mean()
