"""A small 3D CNN classifying clips; its pooled features define the Frechet video distance.

FVD (Unterthiner et al. 2018) is the Frechet distance in the feature space of a video network
(I3D there). Nothing may be downloaded here, so the network is this one, trained by fick on the
same data (``fick train configs/images/moving-digits-classifier.yaml``), as the image metrics use
a classifier trained by fick. 3D convolutions see motion, so FVD also penalises clips whose
frames look right but move wrongly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["VideoCNN"]


class VideoCNN(nn.Module):
    """Stages of two 3x3x3 convolutions (BatchNorm, ReLU), each halving space and, from the
    second stage on, time; global average pooling; a ``feature_dim`` layer; logits."""

    def __init__(
        self,
        channels: int,
        num_classes: int,
        widths: tuple[int, ...] = (16, 32, 64),
        feature_dim: int = 64,
        dropout: float = 0.2,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        ch = channels
        for i, w in enumerate(widths):
            layers += [
                nn.Conv3d(ch, w, 3, padding=1),
                nn.BatchNorm3d(w),
                nn.ReLU(),
                nn.Conv3d(w, w, 3, padding=1),
                nn.BatchNorm3d(w),
                nn.ReLU(),
                nn.MaxPool3d((1 if i == 0 else 2, 2, 2), ceil_mode=True),
            ]
            ch = w
        self.body = nn.Sequential(*layers)
        self.project = nn.Linear(ch, feature_dim)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) in [-1, 1] -> (B, feature_dim): the FVD feature space."""
        return F.relu(self.project(self.body(x).mean(dim=(2, 3, 4))))

    def logits_from_features(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_from_features(self.features(x))
