"""The video classifier companion task: a 3D CNN whose features define FVD and whose logits
give the video Inception Score. Re-exported from ``video.tasks``."""

from __future__ import annotations

from typing import Any

from ..companion_tasks import FeatureClassifierTask
from ..config import config_from
from .config import VideoClassifierConfig
from .video_classifier import VideoCNN

__all__ = ["VideoClassifierTask"]


class VideoClassifierTask(FeatureClassifierTask):
    """A 3D CNN classifying clips (B, C, T, H, W) in [-1, 1]; its features define FVD."""

    feature_batch_size = 64

    def __init__(self, cfg: VideoClassifierConfig | dict, info: dict[str, Any]):
        super().__init__(config_from(VideoClassifierConfig, cfg), info)
        self.net = VideoCNN(
            info["channels"],
            max(1, info["num_classes"]),
            tuple(self.cfg.widths),
            self.cfg.feature_dim,
            self.cfg.dropout,
        )
