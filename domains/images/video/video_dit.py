"""A Latte-style video Diffusion Transformer (Ma et al. 2024, variant 1).

Every frame is patchified like an image in DiT; spatial blocks attend among the patches of one
frame, temporal blocks among the frames at one patch position, and the two alternate. Positions
are fixed sin-cos embeddings: 2D over the patch grid, added once, and 1D over time, added before
the first temporal block (Latte). Conditioning is DiT's adaLN-Zero on timestep + label embeddings
(label ``num_classes`` is the null class of classifier-free guidance). The blocks, embeddings and
init are the image DiT's (``fick.domains.images``), reused by reshaping the token tensor.
"""

from __future__ import annotations

from typing import Any

import torch

from ..dit import DiT, unpatchify
from ..embeddings import sincos_embedding_1d

__all__ = ["VideoDiT"]


class VideoDiT(DiT):
    """``forward(x, t, labels, cfg_null=None)``: x (B, C, T, H, W), t (B,) or scalar, labels (B,),
    ``cfg_null`` (B,) bool (those labels become the null class) -> a tensor shaped like x.
    ``depth`` counts (spatial, temporal) block pairs; ``frames`` is the longest clip the temporal
    embedding covers (shorter clips use its first rows); the other options are the image DiT's
    (``image_size``, ``channels``, ``num_classes``, ``patch_size``, ``width``, ``heads``,
    ``mlp_ratio``), whose modules, parameter names and initialisation it keeps."""

    def __init__(self, *, frames: int, depth: int = 4, **dit_options: Any):
        super().__init__(depth=2 * depth, **dit_options)
        self.frames = frames
        width = self.pos_embed.shape[-1]
        self.register_buffer(
            "time_pos_embed",
            sincos_embedding_1d(width, torch.arange(frames)).unsqueeze(0),
            persistent=False,
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, cfg_null=None):
        b, c, frames, h, w = x.shape
        if frames > self.frames:
            raise ValueError(f"clip of {frames} frames is longer than the model's {self.frames}")
        frames_first = x.transpose(1, 2).reshape(b * frames, c, h, w)
        tokens = self.patch_embed(frames_first) + self.pos_embed.to(x.dtype)  # (B*T, N, D)
        n, d = tokens.shape[1:]
        cond = self.condition(t, labels, cfg_null, b)  # (B, D)
        spatial_cond = cond.repeat_interleave(frames, dim=0)  # one per frame
        temporal_cond = cond.repeat_interleave(n, dim=0)  # one per patch position
        for i, block in enumerate(self.blocks):
            if i % 2 == 0:
                tokens = block(tokens, spatial_cond)
                continue
            seq = tokens.reshape(b, frames, n, d).transpose(1, 2).reshape(b * n, frames, d)
            if i == 1:
                seq = seq + self.time_pos_embed[:, :frames].to(x.dtype)
            seq = block(seq, temporal_cond)
            tokens = seq.reshape(b, n, frames, d).transpose(1, 2).reshape(b * frames, n, d)
        out = unpatchify(self.final(tokens, spatial_cond), c, self.patch_size, h, w)
        return out.reshape(b, frames, c, h, w).transpose(1, 2)
