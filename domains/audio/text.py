"""Text prompts: a word-piece tokenizer built from the training captions and text encoders.

The vocabulary (no download) is the training captions' words, most frequent first (at most
``max_words``), plus every character they use, as a word-initial piece ``c`` and a continuation
piece ``##c``. Encoding is WordPiece's greedy longest match, so an unseen word ("quickly")
becomes pieces of known ones and characters instead of one unknown token.

``CaptionEncoder``: a small pre-norm transformer over the pieces, trained with the denoiser; it
returns per-token features (for cross-attention), their validity mask and a pooled vector (the
[CLS] token, for the time embedding). ``PretrainedTextEncoder`` wraps a local ``transformers``
model folder (optional: transformers is not a dependency of fick) frozen, with a trained
projection to the same interface.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import torch
from fick.domains.base import FickError
from torch import nn

__all__ = ["CaptionEncoder", "PretrainedTextEncoder", "WordPieceTokenizer", "caption_vocabulary"]

PAD, UNK, CLS = "[PAD]", "[UNK]", "[CLS]"
_WORDS = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def _words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


def caption_vocabulary(captions, max_words: int = 4000) -> list[str]:
    """The words of ``captions``, most frequent first (ties alphabetical): stored in the data's
    info so a saved model rebuilds its tokenizer without the data."""
    counts = Counter(w for c in captions if c for w in _words(c))
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:max_words]


class WordPieceTokenizer:
    def __init__(self, words: list[str]):
        chars = sorted({ch for w in words for ch in w})
        pieces = [PAD, UNK, CLS] + list(words)
        pieces += [c for c in chars if c not in words] + ["##" + c for c in chars]
        self.pieces = list(dict.fromkeys(pieces))
        self.index = {p: i for i, p in enumerate(self.pieces)}
        self.longest = max((len(p) for p in self.pieces), default=1)

    def __len__(self) -> int:
        return len(self.pieces)

    def _word_pieces(self, word: str) -> list[int]:
        out, start = [], 0
        while start < len(word):
            for end in range(min(len(word), start + self.longest), start, -1):
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.index:
                    out.append(self.index[piece])
                    start = end
                    break
            else:
                return [self.index[UNK]]  # a character never seen in training
        return out

    def encode(self, text: str) -> list[int]:
        ids = [self.index[CLS]]
        for word in _words(text or ""):
            ids += self._word_pieces(word)
        return ids

    def batch(self, texts: list[str], max_tokens: int, device=None) -> torch.Tensor:
        """(B, L) ids, [CLS] first, padded with [PAD] (0) and cut at ``max_tokens``."""
        rows = [self.encode(t)[:max_tokens] for t in texts]
        length = max(len(r) for r in rows)
        out = torch.zeros((len(rows), length), dtype=torch.long)
        for i, r in enumerate(rows):
            out[i, : len(r)] = torch.tensor(r)
        return out.to(device)


class CaptionEncoder(nn.Module):
    """``forward(ids (B, L)) -> (tokens (B, L, width), valid (B, L) bool, pooled (B, width))``."""

    def __init__(self, vocab_size: int, width: int = 128, depth: int = 2, heads: int = 4,
                 max_tokens: int = 32):  # fmt: skip
        super().__init__()
        self.embed = nn.Embedding(vocab_size, width, padding_idx=0)
        self.position = nn.Parameter(torch.randn(max_tokens, width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            width, heads, 4 * width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.width, self.max_tokens = width, max_tokens

    def forward(self, ids: torch.Tensor):
        ids = ids[:, : self.max_tokens]
        valid = ids != 0
        h = self.embed(ids) + self.position[: ids.shape[1]]
        h = self.norm(self.blocks(h, src_key_padding_mask=~valid))
        return h, valid, h[:, 0]


class PretrainedTextEncoder(nn.Module):
    """A local ``transformers`` encoder (``AutoModel`` + ``AutoTokenizer`` from ``folder``,
    never downloaded), frozen, with a trained linear projection to ``width``."""

    def __init__(self, folder: str, width: int, max_tokens: int = 32):
        super().__init__()
        try:
            from transformers import AutoModel, AutoTokenizer
        except ImportError as err:
            raise FickError(
                "model.text_encoder names a pretrained folder but transformers is not "
                "installed: pip install transformers, or leave model.text_encoder empty"
            ) from err
        if not Path(folder).is_dir():
            raise FickError(f"text encoder folder '{folder}' does not exist")
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.model = AutoModel.from_pretrained(folder, local_files_only=True).requires_grad_(False)
        self.model.eval()
        self.project = nn.Linear(self.model.config.hidden_size, width)
        self.max_tokens = max_tokens

    def tokenize(self, texts: list[str], device=None) -> torch.Tensor:
        enc = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_tokens,
            return_tensors="pt",
        )  # fmt: skip
        # ids and attention mask in one (B, L, 2) tensor: the one keyword the denoiser takes
        return torch.stack([enc["input_ids"], enc["attention_mask"]], dim=-1).to(device)

    def forward(self, ids: torch.Tensor):
        input_ids, mask = ids[..., 0], ids[..., 1]
        with torch.no_grad():
            h = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        h = self.project(h)
        return h, mask.bool(), h[:, 0]
