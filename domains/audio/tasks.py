"""The audio domain's companion tasks: spectrogram VAE, neural vocoder and metric classifier.

The vocoder lives in ``vocoder_task`` (GAN training); the shared base in ``task_base``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from fick.domains.audio.classifier import MelClassifier
from fick.domains.audio.config import AutoencoderConfig, ClassifierConfig
from fick.domains.audio.metrics import log_mel_l1
from fick.domains.audio.task_base import AudioTask, front_end_from_info
from fick.domains.audio.vae import SpectrogramVAE, multi_resolution_spectral_loss
from fick.domains.audio.vocoder_task import VocoderTask
from fick.domains.base import FickError

__all__ = ["AutoencoderTask", "ClassifierTask", "VocoderTask", "front_end_from_info"]


class AutoencoderTask(AudioTask):
    """KL-VAE over standardised log-mels: L1 + multi-resolution spectral loss + kl_weight * KL."""

    kind = "autoencoder"

    def __init__(self, cfg: AutoencoderConfig, info: dict[str, Any]):
        super().__init__(cfg, info)
        self.vae = SpectrogramVAE(
            info["mel"]["n_mels"],
            cfg.channels,
            tuple(cfg.channel_mult),
            cfg.latent_channels,
            cfg.num_res_blocks,
        )

    @property
    def factor(self) -> int:
        return self.vae.factor

    @property
    def latent_channels(self) -> int:
        return self.vae.latent_channels

    def encode(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Unnormalised log-mel (B, M, T) -> latent mean (B, C, M/f, ceil(T/f))."""
        return self.vae.encode(self.front.normalize(log_mel))[0]

    def decode(self, z: torch.Tensor, frames: int) -> torch.Tensor:
        """Latent -> unnormalised log-mel (B, M, frames)."""
        return self.front.denormalize(self.vae.decode(z, frames))

    def _terms(self, batch):
        x = self.front.normalize(batch["log_mel"])
        recon, mean, logvar = self.vae(x)
        l1 = (recon - x).abs().flatten(1).mean(1)
        spectral = multi_resolution_spectral_loss(recon, x, self.front.mean, self.front.std)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).mean(1)
        loss = (l1 + self.cfg.spectral_weight * spectral + self.cfg.kl_weight * kl).mean()
        return (
            loss,
            recon,
            x,
            {
                "l1": float(l1.detach().mean()),
                "spectral": float(spectral.detach().mean()),
                "kl": float(kl.detach().mean()),
            },
        )

    def loss(self, batch):
        loss, _, _, logs = self._terms(batch)
        return loss, logs

    @torch.no_grad()
    def validation_metrics(self, batch) -> dict[str, float]:
        loss, _, _, logs = self._terms(batch)
        x = self.front.normalize(batch["log_mel"])
        recon = self.vae.decode(self.vae.encode(x)[0], x.shape[-1])  # the posterior mean
        return {
            "loss": float(loss),
            **logs,
            "log_mel_l1": log_mel_l1(self.front.denormalize(recon), batch["log_mel"]),
        }


class ClassifierTask(AudioTask):
    """The SC09-protocol metric network: cross-entropy on standardised log-mels of real clips,
    with random circular time shifts as augmentation."""

    kind = "classifier"

    def __init__(self, cfg: ClassifierConfig, info: dict[str, Any]):
        super().__init__(cfg, info)
        self.class_names = list(info.get("class_names") or [])
        if len(self.class_names) < 2:
            raise FickError(
                "a classifier needs at least two labels: give the clips labels "
                "(subfolders or a manifest's label column)"
            )
        self.net = MelClassifier(len(self.class_names), cfg.channels, cfg.feature_dim, cfg.dropout)

    def loss(self, batch):
        x = self.front.normalize(batch["log_mel"])
        if self.training and self.cfg.time_shift > 0:
            max_shift = int(self.cfg.time_shift * x.shape[-1])
            shift = int(torch.randint(-max_shift, max_shift + 1, ()))
            x = torch.roll(x, shift, dims=-1)
        logits = self.net(x)
        loss = F.cross_entropy(logits, batch["label"])
        acc = (logits.argmax(1) == batch["label"]).float().mean()
        return loss, {"accuracy": float(acc)}

    @torch.no_grad()
    def predict(self, log_mel: torch.Tensor, batch_size: int = 256):
        """(probabilities (N, classes), features (N, feature_dim)) of unnormalised log-mels."""
        probs, feats = [], []
        for chunk in log_mel.split(batch_size):
            f = self.net.features(self.front.normalize(chunk))
            feats.append(f)
            probs.append(torch.softmax(self.net.head(f), dim=1))
        return torch.cat(probs), torch.cat(feats)

    @torch.no_grad()
    def validation_metrics(self, batch) -> dict[str, float]:
        loss, logs = self.loss(batch)
        return {"loss": float(loss), **logs}
