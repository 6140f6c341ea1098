"""A small class-conditional U-Net (the DDPM layout without attention), an alternative to the DiT.

Residual blocks take the timestep + label embedding as a per-channel scale and shift (FiLM); the
last convolution is zero-initialised so the network outputs zero at initialisation, like the DiT.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .embeddings import LabelEmbedder, TimeLabelConditioned, TimestepEmbedder

__all__ = ["UNet"]


def _group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class ResBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, emb_dim: int):
        super().__init__()
        self.norm1 = _group_norm(in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * out_ch)
        self.norm2 = _group_norm(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(F.silu(emb)).chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale[:, :, None, None]) + shift[:, :, None, None]
        return self.skip(x) + self.conv2(F.silu(h))


class UNet(TimeLabelConditioned):
    """``channels_per_level`` widths, one resolution halving between consecutive levels."""

    def __init__(
        self,
        image_size: int,
        channels: int,
        num_classes: int,
        channels_per_level: tuple[int, ...] = (32, 64),
        blocks_per_level: int = 1,
    ):
        super().__init__()
        levels = list(channels_per_level)
        if image_size % (2 ** (len(levels) - 1)):
            raise ValueError(f"image size {image_size} cannot be halved {len(levels) - 1} times")
        emb = 4 * levels[0]
        self.time_embed = TimestepEmbedder(emb)
        self.label_embed = LabelEmbedder(num_classes, emb)
        self.stem = nn.Conv2d(channels, levels[0], 3, padding=1)
        self.down = nn.ModuleList()
        skips, ch = [levels[0]], levels[0]
        for i, width in enumerate(levels):
            for _ in range(blocks_per_level):
                self.down.append(ResBlock(ch, width, emb))
                ch = width
                skips.append(ch)
            if i < len(levels) - 1:
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                skips.append(ch)
        self.mid = nn.ModuleList([ResBlock(ch, ch, emb), ResBlock(ch, ch, emb)])
        self.up = nn.ModuleList()
        for i, width in reversed(list(enumerate(levels))):
            for _ in range(blocks_per_level + 1):
                self.up.append(ResBlock(ch + skips.pop(), width, emb))
                ch = width
            if i > 0:
                self.up.append(nn.Upsample(scale_factor=2, mode="nearest"))
        self.out_norm = _group_norm(ch)
        self.out = nn.Conv2d(ch, channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, cfg_null=None):
        emb = self.condition(t, labels, cfg_null, x.shape[0])
        h = self.stem(x)
        hs = [h]
        for layer in self.down:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
            hs.append(h)
        for layer in self.mid:
            h = layer(h, emb)
        for layer in self.up:
            if isinstance(layer, ResBlock):
                h = layer(torch.cat([h, hs.pop()], dim=1), emb)
            else:
                h = layer(h)
        return self.out(F.silu(self.out_norm(h)))
