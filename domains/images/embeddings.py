"""Embeddings shared by the image DiT, the U-Net and the video DiT.

Sin-cos positional embeddings follow the DiT / MAE recipe: half the channels encode one axis, half
the other, each as ``[sin(pos * omega), cos(pos * omega)]`` with ``omega = 1 / 10000^(2i/d)``.
They are fixed buffers, so a model trained at one size can be rebuilt from its config alone.
"""

from __future__ import annotations

import torch
from fick.core.time_embedding import sinusoidal_embedding
from torch import nn

__all__ = [
    "LabelEmbedder",
    "PatchEmbed",
    "TimestepEmbedder",
    "sincos_embedding_1d",
    "TimeLabelConditioned",
    "sincos_embedding_2d",
]


def sincos_embedding_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """(N,) positions -> (N, dim) sin-cos features; ``dim`` must be even."""
    if dim % 2:
        raise ValueError(f"sin-cos embedding needs an even dimension, got {dim}")
    omega = torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0)
    omega = 1.0 / 10000**omega
    angles = positions.to(torch.float64).reshape(-1, 1) * omega.reshape(1, -1)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1).float()


def sincos_embedding_2d(dim: int, height: int, width: int) -> torch.Tensor:
    """(height * width, dim) embedding of a row-major token grid: first half rows, second half
    columns (``dim`` divisible by 4)."""
    if dim % 4:
        raise ValueError(f"2D sin-cos embedding needs a dimension divisible by 4, got {dim}")
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return torch.cat(
        [
            sincos_embedding_1d(dim // 2, rows.reshape(-1)),
            sincos_embedding_1d(dim // 2, cols.reshape(-1)),
        ],
        dim=1,
    )


class TimestepEmbedder(nn.Module):
    """Network time -> conditioning vector: sinusoidal features (``fick.core``'s, cosines first)
    then a two-layer MLP. The time arrives already scaled by the task's denoiser
    (``fick.core.denoiser``): timesteps 0..T-1, or 1000 t for continuous time."""

    def __init__(self, hidden: int, frequency_dim: int = 128):
        super().__init__()
        self.frequency_dim = frequency_dim
        self.mlp = nn.Sequential(
            nn.Linear(frequency_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden)
        )

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_embedding(t, self.frequency_dim))


class LabelEmbedder(nn.Module):
    """Class label -> vector, with one extra "null" class (index ``num_classes``) that stands for
    "no condition": classifier-free guidance trains and queries the unconditional model with it."""

    def __init__(self, num_classes: int, hidden: int):
        super().__init__()
        self.num_classes = num_classes
        self.table = nn.Embedding(num_classes + 1, hidden)

    @property
    def null_label(self) -> int:
        return self.num_classes

    def forward(self, labels: torch.Tensor, cfg_null: torch.Tensor | None = None) -> torch.Tensor:
        """``cfg_null`` (B,) bool: replace those labels by the null class (fick.core.guidance)."""
        if cfg_null is not None:
            labels = torch.where(
                cfg_null.to(labels.device), torch.full_like(labels, self.null_label), labels
            )
        return self.table(labels)


class PatchEmbed(nn.Module):
    """(B, C, H, W) -> (B, H/p * W/p, hidden) tokens, row-major, by a stride-p convolution."""

    def __init__(self, in_channels: int, hidden: int, patch_size: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, hidden, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % self.patch_size or x.shape[-2] % self.patch_size:
            raise ValueError(
                f"image size {tuple(x.shape[-2:])} is not divisible by patch size {self.patch_size}"
            )
        return self.proj(x).flatten(2).transpose(1, 2)


class TimeLabelConditioned(nn.Module):
    """Base of the image networks: ``time_embed`` + ``label_embed`` give one conditioning vector
    per sample; ``forward(x, t, labels, cfg_null=None)`` is the signature fick.core calls."""

    time_embed: TimestepEmbedder
    label_embed: LabelEmbedder

    @property
    def null_label(self) -> int:
        return self.label_embed.null_label

    def condition(self, t: torch.Tensor, labels: torch.Tensor, cfg_null, batch: int):
        """(B, D): the time (a scalar or one per sample) and label embeddings, summed."""
        t = torch.as_tensor(t, device=labels.device).reshape(-1).expand(batch)
        return self.time_embed(t) + self.label_embed(labels, cfg_null)
