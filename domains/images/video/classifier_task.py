"""The video classifier companion task: a 3D CNN whose features define FVD and whose logits
give the video Inception Score. Re-exported from ``video.tasks``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch
import torch.nn.functional as F
from fick.domains.base import Task

from ..config import coerce_config
from .config import VideoClassifierConfig
from .video_classifier import VideoCNN

__all__ = ["VideoClassifierTask"]


class VideoClassifierTask(Task):
    """A 3D CNN classifying clips (B, C, T, H, W) in [-1, 1]; its features define FVD."""

    kind = "classifier"

    def __init__(self, cfg: VideoClassifierConfig | dict, info: dict[str, Any]):
        super().__init__()
        self.cfg = coerce_config(VideoClassifierConfig, cfg)
        self.info = dict(info)
        self.net = VideoCNN(
            info["channels"],
            max(1, info["num_classes"]),
            tuple(self.cfg.widths),
            self.cfg.feature_dim,
            self.cfg.dropout,
        )

    def loss(self, batch):
        videos, labels = batch
        logits = self.net(videos)
        loss = F.cross_entropy(logits, labels, label_smoothing=self.cfg.label_smoothing)
        return loss, {"accuracy": float((logits.argmax(1) == labels).float().mean())}

    @torch.no_grad()
    def validation_metrics(self, batch) -> dict[str, float]:
        videos, labels = batch
        logits = self.net(videos)
        return {
            "loss": float(F.cross_entropy(logits, labels)),
            "accuracy": float((logits.argmax(1) == labels).float().mean()),
        }

    @torch.no_grad()
    def features_and_logits(self, videos: torch.Tensor, batch_size: int = 64):
        """Features (N, D) and logits (N, K) of clips (N, C, T, H, W) in [-1, 1], in eval mode."""
        was_training = self.net.training
        self.net.eval()
        feats, logits = [], []
        for chunk in videos.split(batch_size):
            f = self.net.features(chunk)
            feats.append(f)
            logits.append(self.net.logits_from_features(f))
        self.net.train(was_training)
        return torch.cat(feats), torch.cat(logits)

    def saved_config(self) -> dict[str, Any]:
        return asdict(self.cfg)
