"""Evaluation of the audio latent diffusion task: SC09-protocol metrics of generated clips
against the real train split, and the same metrics of the real test clips as a reference row.

A mixin so ``LatentDiffusionTask`` keeps its method names; it holds no parameters.
"""

from __future__ import annotations

from typing import Any

import torch
import torchaudio
from fick.core.sample_metrics import frechet_distance, gaussian_stats
from fick.domains.audio.export import Clip
from fick.domains.audio.metrics import (
    am_score,
    conditional_accuracy,
    inception_score,
    modified_inception_score,
    real_time_factor,
)
from fick.domains.base import DataBundle

__all__ = ["DiffusionEvaluationMixin"]


class DiffusionEvaluationMixin:
    """Needs ``front``, ``classifier``, ``class_names``, ``latent_scale`` and a
    ``_reference_cache`` dict."""

    def _log_mels(self, clips: list[Clip]) -> torch.Tensor:
        """Log-mels of clips at the model's rate (resampled when a file came at another rate),
        zero-padded to the longest."""
        s = self.front.settings
        waves = [
            c.audio
            if c.sample_rate == s.sample_rate
            else torchaudio.functional.resample(c.audio, c.sample_rate, s.sample_rate)
            for c in clips
        ]
        length = max(w.shape[-1] for w in waves)
        audio = torch.stack(
            [torch.nn.functional.pad(w, (0, length - w.shape[-1])) for w in waves]
        ).to(self.latent_scale.device)
        return self.front.log_mel(audio[..., : length - length % s.hop_length])

    def _reference(self, data: DataBundle) -> dict[str, Any]:
        """Statistics of the real clips (train: FID / mel FD reference; test: reference row)."""
        if data.digest in self._reference_cache:
            return self._reference_cache[data.digest]
        device = self.latent_scale.device
        ref: dict[str, Any] = {}
        train_mel = data.train.log_mel.to(device)
        ref["mel_stats"] = gaussian_stats(self.front.normalize(train_mel).mean(dim=-1))
        if self.classifier is not None:
            probs, feats = self.classifier.predict(train_mel)
            ref["probs"], ref["feat_stats"] = probs, gaussian_stats(feats)
        self._reference_cache = {data.digest: ref}
        return ref

    @torch.no_grad()
    def evaluate(self, samples: list[Clip], data: DataBundle | None) -> dict[str, float]:
        """SC09-protocol metrics (see ``metrics``); with a test split, the same metrics of the
        real test clips as the ``real_test/`` reference row."""
        metrics: dict[str, float] = {}
        seconds = [c.compute_seconds for c in samples if c.compute_seconds is not None]
        if seconds:
            metrics["real_time_factor"] = real_time_factor(
                sum(c.seconds for c in samples), sum(seconds)
            )
        rows = [("", samples, [c.label for c in samples])]
        if data is not None and data.test is not None and self.classifier is not None:
            test = data.test
            rows.append(("real_test/", None, [self.class_names[int(i)] for i in test.labels]))
        for prefix, clips, labels in rows:
            log_mel = (
                self._log_mels(clips)
                if clips is not None
                else data.test.log_mel.to(self.latent_scale.device)
            )
            metrics.update(self._scores(log_mel, labels, data, prefix))
        return metrics

    def _scores(self, log_mel, labels, data, prefix) -> dict[str, float]:
        out: dict[str, float] = {}
        ref = self._reference(data) if data is not None else None
        if ref is not None and log_mel.shape[0] > 1:
            mel_vectors = self.front.normalize(log_mel).mean(dim=-1)
            out["mel_fd"] = frechet_distance(gaussian_stats(mel_vectors), ref["mel_stats"])
        if self.classifier is None:
            return {prefix + k: v for k, v in out.items()}
        probs, feats = self.classifier.predict(log_mel)
        out["is"] = inception_score(probs)
        out["mis"] = modified_inception_score(probs)
        known = [i for i, lab in enumerate(labels) if lab in self.classifier.class_names]
        if known:
            target = torch.tensor([self.classifier.class_names.index(labels[i]) for i in known])
            out["accuracy"] = conditional_accuracy(probs[known], target)
        if ref is not None:
            out["am"] = am_score(probs, ref["probs"])
            if feats.shape[0] > 1:
                out["fid"] = frechet_distance(gaussian_stats(feats), ref["feat_stats"])
        return {prefix + k: v for k, v in out.items()}
