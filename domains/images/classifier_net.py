"""The small CNN whose penultimate features define the image metrics (accuracy, FID, IS)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SmallCNN"]


class SmallCNN(nn.Module):
    """Conv blocks halving the resolution, global average pooling, a ``feature_dim`` penultimate
    layer, then logits. Works for any image size >= 2**len(widths). The video classifier is the
    same network in 3D (``conv``, ``norm`` and ``pooling`` are its hooks)."""

    conv: type[nn.Module] = nn.Conv2d
    norm: type[nn.Module] = nn.BatchNorm2d

    def __init__(
        self,
        channels: int,
        num_classes: int,
        widths: tuple[int, ...] = (32, 64),
        feature_dim: int = 64,
        dropout: float = 0.2,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        ch = channels
        for i, w in enumerate(widths):
            layers += [
                self.conv(ch, w, 3, padding=1),
                self.norm(w),
                nn.ReLU(),
                self.conv(w, w, 3, padding=1),
                self.norm(w),
                nn.ReLU(),
                self.pooling(i),
            ]
            ch = w
        self.body = nn.Sequential(*layers)
        self.project = nn.Linear(ch, feature_dim)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, num_classes)

    def pooling(self, stage: int) -> nn.Module:
        return nn.MaxPool2d(2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (B, feature_dim): the space FID and IS (FVD) are measured in."""
        h = self.body(x)
        return F.relu(self.project(h.mean(dim=tuple(range(2, h.dim())))))

    def logits_from_features(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_from_features(self.features(x))
