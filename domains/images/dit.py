"""A class-conditional Diffusion Transformer for images (or VAE latents)."""

from __future__ import annotations

import torch
from torch import nn

from .dit_blocks import AdaLNZeroBlock, FinalLayer, init_dit_weights
from .embeddings import (
    LabelEmbedder,
    PatchEmbed,
    TimeLabelConditioned,
    TimestepEmbedder,
    sincos_embedding_2d,
)

__all__ = ["DiT", "unpatchify"]


def unpatchify(
    tokens: torch.Tensor, channels: int, patch: int, height: int, width: int
) -> torch.Tensor:
    """(B, (H/p)(W/p), p*p*C) row-major patch tokens -> (B, C, H, W)."""
    b = tokens.shape[0]
    gh, gw = height // patch, width // patch
    x = tokens.reshape(b, gh, gw, patch, patch, channels)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(b, channels, height, width)


class DiT(TimeLabelConditioned):
    """DiT: patchify, add fixed 2D sin-cos positions, ``depth`` adaLN-Zero blocks conditioned on
    timestep + label embeddings, then a zero-initialised final layer and unpatchify.

    ``forward(x, t, labels, cfg_null)`` predicts a tensor shaped like ``x`` (epsilon, v or x0, as
    trained) from the network time ``t`` (the task's denoiser scales the process time). Label
    ``num_classes`` is the null class; ``cfg_null`` (B,) bool selects it per sample
    (the keyword ``fick.core.guidance.classifier_free`` sets).
    """

    def __init__(
        self,
        image_size: int,
        channels: int,
        num_classes: int,
        patch_size: int = 2,
        width: int = 128,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 4.0,
    ):
        super().__init__()
        self.image_size, self.channels, self.patch_size = image_size, channels, patch_size
        self.patch_embed = PatchEmbed(channels, width, patch_size)
        grid = image_size // patch_size
        self.register_buffer(
            "pos_embed", sincos_embedding_2d(width, grid, grid).unsqueeze(0), persistent=False
        )
        self.time_embed = TimestepEmbedder(width)
        self.label_embed = LabelEmbedder(num_classes, width)
        self.blocks = nn.ModuleList(AdaLNZeroBlock(width, heads, mlp_ratio) for _ in range(depth))
        self.final = FinalLayer(width, patch_size * patch_size * channels)
        init_dit_weights(self)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, cfg_null=None):
        h, w = x.shape[-2:]
        tokens = self.patch_embed(x) + self.pos_embed.to(x.dtype)
        c = self.condition(t, labels, cfg_null, x.shape[0])
        for block in self.blocks:
            tokens = block(tokens, c)
        return unpatchify(self.final(tokens, c), self.channels, self.patch_size, h, w)
