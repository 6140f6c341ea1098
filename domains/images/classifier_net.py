"""The small CNN whose penultimate features define the image metrics (accuracy, FID, IS)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SmallCNN"]


class SmallCNN(nn.Module):
    """Conv blocks halving the resolution, global average pooling, a ``feature_dim`` penultimate
    layer, then logits. Works for any image size >= 2**len(widths)."""

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
        for w in widths:
            layers += [
                nn.Conv2d(ch, w, 3, padding=1),
                nn.BatchNorm2d(w),
                nn.ReLU(),
                nn.Conv2d(w, w, 3, padding=1),
                nn.BatchNorm2d(w),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            ch = w
        self.body = nn.Sequential(*layers)
        self.project = nn.Linear(ch, feature_dim)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (B, feature_dim): the space FID and IS are measured in."""
        h = self.body(x).mean(dim=(2, 3))
        return F.relu(self.project(h))

    def logits_from_features(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_from_features(self.features(x))
