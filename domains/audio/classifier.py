"""The metric network of the SC09 protocol: a CNN classifier over standardised log-mels.

Global average pooling over (frequency x time) makes it length-agnostic; ``features`` (the
penultimate layer) is the space in which FID is measured, ``forward`` gives the logits from which
IS, modified IS, AM score and the accuracy of conditional samples are computed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MelClassifier"]


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
    )


class MelClassifier(nn.Module):
    def __init__(
        self, num_classes: int, channels: int = 32, feature_dim: int = 128, dropout: float = 0.1
    ):
        super().__init__()
        widths = [channels, 2 * channels, 4 * channels]
        layers, cin = [], 1
        for w in widths:
            layers += [_block(cin, w), nn.MaxPool2d(2)]
            cin = w
        self.conv = nn.Sequential(*layers)
        self.proj = nn.Linear(widths[-1], feature_dim)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, frames) standardised log-mel -> (B, feature_dim)."""
        h = self.conv(mel.unsqueeze(1)).mean(dim=(2, 3))
        return F.relu(self.proj(h))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(mel)))
