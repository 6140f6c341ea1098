"""The image domain's non-generative tasks: the KL-VAE (``autoencoder``) used by latent
diffusion, and the CNN (``classifier``) whose features define the metrics; the video
classifier (``video/classifier_task.py``) shares the classifier's training and features."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from fick.domains.base import Task

from .classifier_net import SmallCNN
from .config import AutoencoderConfig, ClassifierConfig, config_from
from .vae import KLVAE, vae_loss

__all__ = ["AutoencoderTask", "ClassifierTask", "FeatureClassifierTask"]


class AutoencoderTask(Task):
    """A KL-VAE trained with L1 reconstruction + ``kl_weight`` * KL."""

    kind = "autoencoder"

    def __init__(self, cfg: AutoencoderConfig | dict, info: dict[str, Any]):
        super().__init__()
        self.cfg = config_from(AutoencoderConfig, cfg)
        self.info = dict(info)
        self.vae = KLVAE(
            info["channels"], self.cfg.latent_channels, self.cfg.downsample, self.cfg.width
        )

    def loss(self, batch):
        images = batch[0]
        recon, mean, logvar = self.vae(images)
        total, l1, kl = vae_loss(images, recon, mean, logvar, self.cfg.kl_weight)
        return total.mean(), {"l1": float(l1.detach().mean()), "kl": float(kl.detach().mean())}

    @torch.no_grad()
    def validation_metrics(self, batch) -> dict[str, float]:
        images = batch[0]
        mean, _ = self.vae.encode(images)
        recon = self.vae.decode(mean)
        mse = F.mse_loss(recon.clamp(-1, 1), images)
        # PSNR for a signal range of 2 ([-1, 1])
        return {
            "l1": float((recon - images).abs().mean()),
            "psnr": float(10 * torch.log10(4.0 / mse)),
            "latent_std": float(mean.std()),
        }

    def saved_config(self) -> dict[str, Any]:
        return asdict(self.cfg)


class FeatureClassifierTask(Task):
    """A classifier whose penultimate features are a metric space (FID, FVD) and whose logits
    give accuracies and the Inception Score. Subclasses build ``self.net`` (with ``features``
    and ``logits_from_features``) from ``cfg`` (widths, feature_dim, dropout, label_smoothing)."""

    kind = "classifier"
    feature_batch_size: ClassVar[int] = 512

    def __init__(self, cfg: Any, info: dict[str, Any]):
        super().__init__()
        self.info = dict(info)
        self.cfg = cfg

    def loss(self, batch):
        inputs, labels = batch
        logits = self.net(inputs)
        loss = F.cross_entropy(logits, labels, label_smoothing=self.cfg.label_smoothing)
        return loss, {"accuracy": float((logits.detach().argmax(1) == labels).float().mean())}

    @torch.no_grad()
    def validation_metrics(self, batch) -> dict[str, float]:
        inputs, labels = batch
        logits = self.net(inputs)
        return {
            "loss": float(F.cross_entropy(logits, labels)),
            "accuracy": float((logits.argmax(1) == labels).float().mean()),
        }

    @torch.no_grad()
    def features_and_logits(self, inputs: torch.Tensor, batch_size: int | None = None):
        """Penultimate features (N, D) and logits (N, K) of inputs in [-1, 1], in eval mode."""
        was_training = self.net.training
        self.net.eval()
        feats, logits = [], []
        for chunk in inputs.split(batch_size or self.feature_batch_size):
            f = self.net.features(chunk)
            feats.append(f)
            logits.append(self.net.logits_from_features(f))
        self.net.train(was_training)
        return torch.cat(feats), torch.cat(logits)

    def saved_config(self) -> dict[str, Any]:
        return asdict(self.cfg)


class ClassifierTask(FeatureClassifierTask):
    """A small CNN classifying the images; its penultimate features are the metric space."""

    def __init__(self, cfg: ClassifierConfig | dict, info: dict[str, Any]):
        super().__init__(config_from(ClassifierConfig, cfg), info)
        self.net = SmallCNN(
            info["channels"],
            info["num_classes"],
            tuple(self.cfg.widths),
            self.cfg.feature_dim,
            self.cfg.dropout,
        )
