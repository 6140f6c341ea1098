"""A class-conditional Diffusion Transformer for images (or VAE latents)."""

from __future__ import annotations

import torch
from torch import nn

from .dit_blocks import AdaLNZeroBlock, FinalLayer
from .embeddings import LabelEmbedder, PatchEmbed, TimestepEmbedder, sincos_embedding_2d

__all__ = ["DiT", "unpatchify"]


def unpatchify(
    tokens: torch.Tensor, channels: int, patch: int, height: int, width: int
) -> torch.Tensor:
    """(B, (H/p)(W/p), p*p*C) row-major patch tokens -> (B, C, H, W)."""
    b = tokens.shape[0]
    gh, gw = height // patch, width // patch
    x = tokens.reshape(b, gh, gw, patch, patch, channels)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(b, channels, height, width)


class DiT(nn.Module):
    """DiT: patchify, add fixed 2D sin-cos positions, ``depth`` adaLN-Zero blocks conditioned on
    timestep + label embeddings, then a zero-initialised final layer and unpatchify.

    ``forward(x, t, labels, cfg_null)`` predicts a tensor shaped like ``x`` (epsilon, v or x0, as
    trained). Label ``num_classes`` is the null class; ``cfg_null`` (B,) bool selects it per sample
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
        time_scale: float = 1.0,
    ):
        super().__init__()
        self.image_size, self.channels, self.patch_size = image_size, channels, patch_size
        self.patch_embed = PatchEmbed(channels, width, patch_size)
        grid = image_size // patch_size
        self.register_buffer(
            "pos_embed", sincos_embedding_2d(width, grid, grid).unsqueeze(0), persistent=False
        )
        self.time_embed = TimestepEmbedder(width, time_scale=time_scale)
        self.label_embed = LabelEmbedder(num_classes, width)
        self.blocks = nn.ModuleList(AdaLNZeroBlock(width, heads, mlp_ratio) for _ in range(depth))
        self.final = FinalLayer(width, patch_size * patch_size * channels)
        self._init_weights()

    def _init_weights(self) -> None:
        # DiT: Xavier for linear layers, the patch projection like a linear layer, N(0, 0.02) for
        # the embedding MLPs; the zero-initialised adaLN layers are restored afterwards.
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        w = self.patch_embed.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.patch_embed.proj.bias)
        nn.init.normal_(self.label_embed.table.weight, std=0.02)
        for layer in (self.time_embed.mlp[0], self.time_embed.mlp[2]):
            nn.init.normal_(layer.weight, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.modulation[-1].weight)
            nn.init.zeros_(block.modulation[-1].bias)
        for layer in (self.final.linear, self.final.modulation[-1]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    @property
    def null_label(self) -> int:
        return self.label_embed.null_label

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        labels: torch.Tensor,
        cfg_null: torch.Tensor | None = None,
    ) -> torch.Tensor:
        h, w = x.shape[-2:]
        tokens = self.patch_embed(x) + self.pos_embed.to(x.dtype)
        c = self.time_embed(t.reshape(-1).expand(x.shape[0])) + self.label_embed(labels, cfg_null)
        for block in self.blocks:
            tokens = block(tokens, c)
        return unpatchify(self.final(tokens, c), self.channels, self.patch_size, h, w)
