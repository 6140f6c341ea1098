"""DiT building blocks with adaLN-Zero conditioning (Peebles & Xie 2023).

A block attends over any token sequence ``(B, N, D)`` and is modulated by one conditioning vector
per sequence ``(B, D)``. The video DiT reuses the same block for spatial attention (sequences =
frames, tokens = patches) and temporal attention (sequences = patch positions, tokens = frames)
by reshaping, repeating the conditioning vector to match.

adaLN-Zero: the modulation MLP (shift, scale, gate for attention and MLP) is zero-initialised,
so every gate is 0 at initialisation and each block is the identity; the final layer is
zero-initialised too, so the network outputs exactly zero before training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AdaLNZeroBlock", "FinalLayer", "SelfAttention", "init_dit_weights", "modulate"]


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Per-sequence affine modulation of normalised tokens: x * (1 + scale) + shift."""
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class SelfAttention(nn.Module):
    """Multi-head self-attention over (B, N, D) with PyTorch's fused kernel."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class AdaLNZeroBlock(nn.Module):
    """Transformer block: x + g_a * Attn(modulate(LN(x))), then x + g_m * MLP(modulate(LN(x)))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim)
        )
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        nn.init.zeros_(self.modulation[-1].weight)
        nn.init.zeros_(self.modulation[-1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = self.modulation(c).chunk(6, dim=1)
        x = x + gate_a.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_a, scale_a))
        return x + gate_m.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_m, scale_m))


class FinalLayer(nn.Module):
    """Modulated LayerNorm then a linear map from tokens to patch values; zero-initialised."""

    def __init__(self, dim: int, out_features: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, out_features)
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        for layer in (self.linear, self.modulation[-1]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm(x), shift, scale))


def init_dit_weights(net: nn.Module) -> None:
    """DiT's initialisation of a network with ``patch_embed``, ``label_embed``, ``time_embed``,
    ``blocks`` and ``final`` (the image and the video DiT): Xavier for linear layers, the patch
    projection like a linear layer, N(0, 0.02) for the embeddings, then adaLN-Zero (every
    block's modulation and the final layer back to zero)."""
    for module in net.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    w = net.patch_embed.proj.weight
    nn.init.xavier_uniform_(w.view(w.shape[0], -1))
    nn.init.zeros_(net.patch_embed.proj.bias)
    nn.init.normal_(net.label_embed.table.weight, std=0.02)
    for layer in (net.time_embed.mlp[0], net.time_embed.mlp[2]):
        nn.init.normal_(layer.weight, std=0.02)
    zeroed = [block.modulation[-1] for block in net.blocks]
    for layer in zeroed + [net.final.linear, net.final.modulation[-1]]:
        nn.init.zeros_(layer.weight)
        nn.init.zeros_(layer.bias)
