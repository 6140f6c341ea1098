"""Metrics of the SC09 protocol (DiffWave, SaShiMi) and of vocoders.

Every score is computed from a classifier trained on real clips (``MelClassifier``): its class
probabilities ``p(y|x)`` and its penultimate features. Definitions (natural logs):

- accuracy: fraction of class-conditional samples whose argmax class is the requested label.
- FID: ||mu_g - mu_r||^2 + Tr(S_g + S_r - 2 (S_g S_r)^(1/2)) between Gaussians fitted to the
  classifier features of generated and real (training) clips.
- IS (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), p(y) the mean prediction over the
  generated set. (SaShiMi's script estimates p(y) from a random half; we use the whole set.)
- modified IS (Gurumurthy et al. 2017): exp(E_{x,x'} KL(p(y|x) || p(y|x'))) over all ordered
  pairs of generated clips, pairs with x = x' included: the exact expectation that SaShiMi's
  Monte Carlo estimate (random pairs drawn with replacement) approximates.
- AM score (Zhou et al. 2018): KL(p_ref(y) || p(y)) + E_x H(p(y|x)), p_ref(y) the mean prediction
  over the real reference clips. Lower is better; IS and mIS higher is better.
- mel Frechet distance: the Frechet distance between Gaussians fitted to the time-averaged
  standardised log-mel vectors (n_mels dims) of generated and real clips; needs no classifier.
- vocoder: log-mel L1 (mean |log mel(x_hat) - log mel(x)|) and spectral convergence
  ||S - S_hat||_F / ||S||_F of STFT magnitudes (n_fft 1024, hop 256) against the original audio.
- real-time factor: seconds of audio generated per second of compute (> 1: faster than real time).
"""

from __future__ import annotations

import numpy as np
import torch
from fick.core.sample_metrics import frechet_distance, gaussian_stats
from fick.core.sample_metrics import inception_score as core_inception_score

__all__ = [
    "am_score",
    "conditional_accuracy",
    "frechet_distance",
    "gaussian_stats",
    "inception_score",
    "log_mel_l1",
    "modified_inception_score",
    "real_time_factor",
    "spectral_convergence",
]

_EPS = 1e-12


def _probs(p) -> np.ndarray:
    p = p.detach().double().cpu().numpy() if isinstance(p, torch.Tensor) else np.asarray(p, float)
    return np.clip(p, _EPS, 1.0)


def _kl_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.sum(p * (np.log(p) - np.log(q)), axis=-1)


def inception_score(probs) -> float:
    """exp(E_x KL(p(y|x) || p(y))); probs (N, classes) rows summing to one (the core's IS of
    their logarithm, zeros clipped so that the logarithm is finite)."""
    return core_inception_score(np.log(_probs(probs)))


def modified_inception_score(probs) -> float:
    """exp(E_{i,j} KL(p_i || p_j)) over all N^2 ordered pairs (i = j included)."""
    p = _probs(probs)
    log_p = np.log(p)
    # KL(p_i||p_j) = sum_y p_i log p_i - sum_y p_i log p_j: an (N, N) matrix in two products.
    kl = (p * log_p).sum(axis=1, keepdims=True) - p @ log_p.T
    return float(np.exp(kl.mean()))


def am_score(probs, reference_probs) -> float:
    """KL(p_ref(y) || p(y)) + E_x H(p(y|x)), p_ref the mean prediction on real clips."""
    p, r = _probs(probs), _probs(reference_probs)
    marginal_ref, marginal = r.mean(axis=0), p.mean(axis=0)
    entropy = -(p * np.log(p)).sum(axis=1).mean()
    return float(_kl_rows(marginal_ref, marginal) + entropy)


def conditional_accuracy(probs, labels) -> float:
    p = torch.as_tensor(np.asarray(_probs(probs)))
    return float((p.argmax(dim=1) == torch.as_tensor(labels).cpu()).double().mean())


def log_mel_l1(log_mel_pred: torch.Tensor, log_mel_true: torch.Tensor) -> float:
    return float((log_mel_pred - log_mel_true).abs().mean())


def spectral_convergence(
    pred: torch.Tensor, target: torch.Tensor, n_fft: int = 1024, hop: int = 256
) -> float:
    """Mean over clips of ||S - S_hat||_F / ||S||_F (STFT magnitudes); audio (B, L)."""
    window = torch.hann_window(n_fft, dtype=torch.float64, device=pred.device)
    n = min(pred.shape[-1], target.shape[-1])
    sp = torch.stft(pred[..., :n].double(), n_fft, hop, window=window, return_complex=True).abs()
    st = torch.stft(target[..., :n].double(), n_fft, hop, window=window, return_complex=True).abs()
    sc = (st - sp).flatten(1).norm(dim=1) / st.flatten(1).norm(dim=1).clamp(min=1e-12)
    return float(sc.mean())


def real_time_factor(audio_seconds: float, compute_seconds: float) -> float:
    return float(audio_seconds / compute_seconds) if compute_seconds > 0 else float("inf")
