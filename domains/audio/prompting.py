"""Text-prompt conditioning of the latent diffusion task.

``PromptConditioner`` owns the tokenizer (built from the training captions' vocabulary in the
data's info), the text encoder (trained with the denoiser, or a frozen local ``transformers``
folder with a trained projection) and a learned null context: an empty caption and a dropped
caption (classifier-free guidance) both become that null context, so clips without a caption
train the unconditional model instead of being thrown away.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import torch
from fick.domains.audio.text import CaptionEncoder, PretrainedTextEncoder, WordPieceTokenizer
from fick.domains.base import FickError
from torch import nn

__all__ = ["PromptConditioner", "split_prompts"]


def split_prompts(value) -> list[str]:
    """Prompts of ``--condition prompt=...``: one string (commas belong to the prompt), several
    separated by ``|``, or a list."""
    values = value if isinstance(value, list | tuple) else str(value).split("|")
    prompts = [str(v).strip() for v in values if str(v).strip()]
    if not prompts:
        raise FickError('empty prompt: use --condition prompt="three, fast, high voice"')
    return prompts


class PromptConditioner(nn.Module):
    # False: the text encoder runs on every network call even inside ``cached_context`` (the
    # behaviour before the cache; benchmarks/audio_speed.py times both)
    cache_context = True

    def __init__(self, cfg, info: dict):
        super().__init__()
        self._context_cache: list | None = None
        self.max_tokens = cfg.text_max_tokens
        if cfg.text_encoder:
            self.encoder = PretrainedTextEncoder(cfg.text_encoder, cfg.text_width, self.max_tokens)
            self.tokenizer = None
        else:
            vocabulary = list(info.get("caption_vocabulary") or [])
            if not vocabulary:
                raise FickError(
                    "model.conditioning is prompt but the training clips have no captions: "
                    "add a caption column to the manifest (path,label,caption)"
                )
            self.tokenizer = WordPieceTokenizer(vocabulary)
            self.encoder = CaptionEncoder(
                len(self.tokenizer), cfg.text_width, cfg.text_depth, cfg.text_heads, self.max_tokens
            )
        self.width = cfg.text_width
        self.null = nn.Parameter(torch.randn(cfg.text_width) * 0.02)

    def ids(self, captions: list[str], device=None) -> torch.Tensor:
        if self.tokenizer is None:
            return self.encoder.tokenize(captions, device)
        return self.tokenizer.batch(captions, self.max_tokens, device)

    def context(self, ids: torch.Tensor, null: torch.Tensor | None):
        """(tokens, valid, pooled) of ``ids``; rows where ``null`` is True get the null context
        (one valid token, the learned null vector, also as the pooled features)."""
        tokens, valid, pooled = self._encode(ids)
        if null is None or not bool(null.any()):
            return tokens, valid, pooled
        null = null.to(tokens.device)
        null_tokens = torch.zeros_like(tokens)
        null_tokens[:, 0] = self.null
        null_valid = torch.zeros_like(valid)
        null_valid[:, 0] = True
        tokens = torch.where(null[:, None, None], null_tokens, tokens)
        valid = torch.where(null[:, None], null_valid, valid)
        pooled = torch.where(null[:, None], self.null.expand_as(pooled), pooled)
        return tokens, valid, pooled

    def _encode(self, ids: torch.Tensor):
        cache = self._context_cache
        if cache is not None:
            for key, value in cache:
                if key.shape == ids.shape and torch.equal(key, ids):
                    return value
        out = self.encoder(ids)
        if cache is not None:
            cache.append((ids, out))
        return out

    @contextmanager
    def cached_context(self):
        """Within one sampling call the prompts are fixed, so the encoder's output for a batch
        of ids is computed once and reused at every step (an entry per distinct ids batch: the
        CFG-doubled one and, outside a guidance interval, the plain one). Each entry comes from
        the same call the uncached path makes, so samples are bit-identical."""
        if not self.cache_context:
            yield
            return
        self._context_cache = []
        try:
            yield
        finally:
            self._context_cache = None

    @staticmethod
    def word_label(prompt: str, class_names: list[str]) -> str | None:
        """The class name a prompt asks for (its first word that is one), for the accuracy."""
        for word in re.findall(r"[a-z0-9]+", prompt.lower()):
            if word in class_names:
                return word
        return None
