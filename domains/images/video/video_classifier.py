"""A small 3D CNN classifying clips; its pooled features define the Frechet video distance.

FVD (Unterthiner et al. 2018) is the Frechet distance in the feature space of a video network
(I3D there). Nothing may be downloaded here, so the network is this one, trained by fick on the
same data (``fick train configs/images/moving-digits-classifier.yaml``), as the image metrics use
a classifier trained by fick. 3D convolutions see motion, so FVD also penalises clips whose
frames look right but move wrongly.
"""

from __future__ import annotations

from torch import nn

from ..classifier_net import SmallCNN

__all__ = ["VideoCNN"]


class VideoCNN(SmallCNN):
    """Stages of two 3x3x3 convolutions (BatchNorm, ReLU), each halving space and, from the
    second stage on, time; global average pooling; a ``feature_dim`` layer; logits. Features of
    (B, C, T, H, W) clips in [-1, 1] are the FVD feature space."""

    conv = nn.Conv3d
    norm = nn.BatchNorm3d

    def pooling(self, stage: int) -> nn.Module:
        return nn.MaxPool3d((1 if stage == 0 else 2, 2, 2), ceil_mode=True)
