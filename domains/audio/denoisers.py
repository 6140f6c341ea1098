"""Latent denoisers over (frequency x time) latents: a 2D U-Net and a DiT.

Both take ``(x (B, C, F, T), t (B,), label (B,) long[, context])`` and are length-agnostic
along time: the U-Net is convolutional with self-attention at its lowest resolution, the DiT
recomputes its sin-cos positional embedding for the current grid. Time is padded (replicate) to
a multiple of the net's stride and cropped back. ``label == num_classes`` is the learned "no
condition" token used for classifier-free guidance. ``context`` = (text tokens (B, L, D), valid
(B, L), pooled (B, D)) from ``fick.domains.audio.text``: pooled features join the time embedding
and the latent tokens cross-attend to the text tokens (U-Net: at its lowest resolution; DiT:
every block).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from fick.core.time_embedding import sinusoidal_embedding
from torch import nn

__all__ = ["LatentDiT", "LatentUNet", "build_denoiser"]


class ConditionEmbedding(nn.Module):
    """Timestep + class label (+ pooled text features) -> one conditioning vector."""

    def __init__(self, dim: int, num_classes: int, freq_dim: int = 128, context_dim: int = 0):
        super().__init__()
        self.freq_dim = freq_dim
        self.time = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.label = nn.Embedding(num_classes + 1, dim)  # last row: the null (unconditional) token
        self.pooled = nn.Linear(context_dim, dim) if context_dim else None

    def forward(self, t, label, context=None):
        emb = self.time(sinusoidal_embedding(t, self.freq_dim)) + self.label(label)
        if context is not None and self.pooled is not None:
            emb = emb + self.pooled(context[2])
        return emb


class CrossAttention(nn.Module):
    """Queries from the latent tokens, keys / values from the text tokens (padding masked);
    the output projection starts at zero so the block starts as the identity."""

    def __init__(self, dim: int, context_dim: int, heads: int = 4):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(
            dim, heads, kdim=context_dim, vdim=context_dim, batch_first=True
        )
        nn.init.zeros_(self.attn.out_proj.weight)
        nn.init.zeros_(self.attn.out_proj.bias)

    def forward(self, h, context):  # h (B, N, dim)
        tokens, valid, _ = context
        out = self.attn(self.norm(h), tokens, tokens, key_padding_mask=~valid, need_weights=False)
        return h + out[0]


def _pad_time(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int]:
    frames = x.shape[-1]
    pad = (-frames) % multiple
    return (F.pad(x, (0, pad, 0, 0), mode="replicate") if pad else x), frames


def _norm(ch: int) -> nn.GroupNorm:
    # The most groups (<= 32, >= 4 channels each) that divide the width.
    groups = next(g for g in range(max(1, min(32, ch // 4)), 0, -1) if ch % g == 0)
    return nn.GroupNorm(groups, ch)


class _ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb_dim: int):
        super().__init__()
        self.norm1, self.conv1 = _norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * cout)
        self.norm2, self.conv2 = _norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(F.silu(h))


class _Attention2d(nn.Module):
    def __init__(self, ch: int, heads: int = 4):
        super().__init__()
        self.norm, self.heads = _norm(ch), heads
        self.qkv, self.out = nn.Conv2d(ch, 3 * ch, 1), nn.Conv2d(ch, ch, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        out = F.scaled_dot_product_attention(
            q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2)
        )
        return x + self.out(out.transpose(-1, -2).reshape(b, c, h, w))


class LatentUNet(nn.Module):
    """A small conditional U-Net; one resolution level per entry of ``channel_mult``."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        channels: int = 64,
        channel_mult=(1, 2),
        attention: bool = True,
        context_dim: int = 0,
    ):
        super().__init__()
        emb_dim = 4 * channels
        self.embed = ConditionEmbedding(emb_dim, num_classes, context_dim=context_dim)
        self.stride = 2 ** (len(channel_mult) - 1)
        widths = [channels * m for m in channel_mult]
        self.inp = nn.Conv2d(in_channels, widths[0], 3, padding=1)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        for i, w in enumerate(widths):
            self.down.append(_ResBlock(widths[max(i - 1, 0)], w, emb_dim))
            self.downsample.append(
                nn.Conv2d(w, w, 3, stride=2, padding=1) if i < len(widths) - 1 else nn.Identity()
            )
        self.mid1 = _ResBlock(widths[-1], widths[-1], emb_dim)
        self.mid_attn = _Attention2d(widths[-1]) if attention else nn.Identity()
        # text prompts: cross-attention at the lowest resolution (few positions: cheap)
        self.mid_cross = CrossAttention(widths[-1], context_dim) if context_dim else None
        self.mid2 = _ResBlock(widths[-1], widths[-1], emb_dim)
        self.up = nn.ModuleList()
        for i in reversed(range(len(widths))):
            cin = widths[min(i + 1, len(widths) - 1)] + widths[i]
            self.up.append(_ResBlock(cin, widths[i], emb_dim))
        self.out = nn.Sequential(
            _norm(widths[0]), nn.SiLU(), nn.Conv2d(widths[0], in_channels, 3, padding=1)
        )
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x, t, label, context=None):
        x, frames = _pad_time(x, self.stride)
        emb = self.embed(t, label, context)
        h = self.inp(x)
        skips = []
        for block, down in zip(self.down, self.downsample):
            h = block(h, emb)
            skips.append(h)
            h = down(h)
        h = self.mid_attn(self.mid1(h, emb))
        if context is not None and self.mid_cross is not None:
            b, c, fh, tw = h.shape
            flat = self.mid_cross(h.flatten(2).transpose(1, 2), context)
            h = flat.transpose(1, 2).reshape(b, c, fh, tw)
        h = self.mid2(h, emb)
        for block in self.up:
            skip = skips.pop()
            if h.shape[-2:] != skip.shape[-2:]:
                h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = block(torch.cat([h, skip], dim=1), emb)
        return self.out(h)[..., :frames]


def sincos_2d(h: int, w: int, dim: int, device) -> torch.Tensor:
    """(h*w, dim) fixed 2D sin-cos positional embedding (MAE / DiT), computed for any grid."""

    def one_d(n, d):
        omega = 1.0 / 10000 ** (torch.arange(d // 2, device=device, dtype=torch.float32) / (d // 2))
        out = torch.arange(n, device=device, dtype=torch.float32)[:, None] * omega[None]
        return torch.cat([out.sin(), out.cos()], dim=1)

    eh, ew = one_d(h, dim // 2), one_d(w, dim // 2)
    return torch.cat([eh[:, None].expand(h, w, -1), ew[None].expand(h, w, -1)], -1).reshape(
        h * w, dim
    )


class _DiTBlock(nn.Module):
    def __init__(self, dim: int, heads: int, context_dim: int = 0):
        super().__init__()
        self.cross = CrossAttention(dim, context_dim, heads) if context_dim else None
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim)
        )
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        nn.init.zeros_(self.ada[-1].weight)  # adaLN-Zero: each block starts as the identity
        nn.init.zeros_(self.ada[-1].bias)

    def forward(self, x, c, context=None):
        s1, b1, g1, s2, b2, g2 = self.ada(c)[:, None].chunk(6, dim=-1)
        h = self.norm1(x) * (1 + s1) + b1
        x = x + g1 * self.attn(h, h, h, need_weights=False)[0]
        if context is not None and self.cross is not None:
            x = self.cross(x, context)
        return x + g2 * self.mlp(self.norm2(x) * (1 + s2) + b2)


class LatentDiT(nn.Module):
    """DiT (Peebles & Xie) over (frequency x time) latents with (pf x pt) patches."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        width: int = 192,
        depth: int = 6,
        heads: int = 6,
        patch_size=(2, 1),
        context_dim: int = 0,
    ):
        super().__init__()
        self.pf, self.pt = patch_size
        self.width, self.in_channels = width, in_channels
        self.embed = ConditionEmbedding(width, num_classes, context_dim=context_dim)
        self.patch = nn.Conv2d(in_channels, width, (self.pf, self.pt), stride=(self.pf, self.pt))
        self.blocks = nn.ModuleList(_DiTBlock(width, heads, context_dim) for _ in range(depth))
        self.final_norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.final = nn.Linear(width, self.pf * self.pt * in_channels)
        for layer in (self.final_ada[-1], self.final):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x, t, label, context=None):
        x, frames = _pad_time(x, self.pt)
        b, c, fh, tw = x.shape
        gh, gw = fh // self.pf, tw // self.pt
        h = self.patch(x).flatten(2).transpose(1, 2) + sincos_2d(gh, gw, self.width, x.device)
        cond = self.embed(t, label, context)
        for block in self.blocks:
            h = block(h, cond, context)
        shift, scale = self.final_ada(cond)[:, None].chunk(2, dim=-1)
        h = self.final(self.final_norm(h) * (1 + scale) + shift)  # (B, gh*gw, pf*pt*C)
        h = h.reshape(b, gh, gw, self.pf, self.pt, c).permute(0, 5, 1, 3, 2, 4)
        return h.reshape(b, c, fh, tw)[..., :frames]


def build_denoiser(
    kind: str, in_channels: int, num_classes: int, cfg, context_dim: int = 0
) -> nn.Module:
    """``context_dim`` > 0: text-conditioned (pooled features + cross-attention)."""
    if kind == "unet":
        return LatentUNet(
            in_channels,
            num_classes,
            cfg.channels,
            tuple(cfg.channel_mult),
            cfg.attention,
            context_dim,
        )
    if kind == "dit":
        return LatentDiT(
            in_channels,
            num_classes,
            cfg.width,
            cfg.depth,
            cfg.heads,
            tuple(cfg.patch_size),
            context_dim,
        )
    from fick.domains.base import FickError

    raise FickError(f"unknown model.denoiser {kind!r}: use unet or dit")
