"""Sample metrics in the feature space of a classifier trained by fick (the SC09 / DiffWave
protocol applied to images): class accuracy of conditional samples, Frechet distance (FID) and
Inception Score (IS). All statistics are computed in float64.
"""

from __future__ import annotations

import math

import torch

__all__ = ["frechet_distance", "gaussian_stats", "inception_score"]


def gaussian_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased covariance of (N, D) features, in float64."""
    f = features.to(torch.float64)
    if f.shape[0] < 2:
        raise ValueError("the Frechet distance needs at least 2 feature vectors per set")
    mu = f.mean(0)
    centred = f - mu
    return mu, centred.T @ centred / (f.shape[0] - 1)


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(matrix)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets:
    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``.

    ``tr((S_a S_b)^(1/2))`` is the sum of square roots of the eigenvalues of the symmetric PSD
    matrix ``S_a^(1/2) S_b S_a^(1/2)`` (similar to S_a S_b), which avoids a non-symmetric sqrtm.
    """
    mu_a, cov_a = gaussian_stats(features_a)
    mu_b, cov_b = gaussian_stats(features_b)
    root_a = _sqrt_psd(cov_a)
    middle = root_a @ cov_b @ root_a
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    value = (mu_a - mu_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * trace_sqrt
    return float(value.clamp(min=0))


def inception_score(logits: torch.Tensor, splits: int = 1) -> float:
    """exp(E_x KL(p(y|x) || p(y))) of classifier logits (N, K); between 1 and K."""
    log_p = torch.log_softmax(logits.to(torch.float64), dim=1)
    scores = []
    for chunk in log_p.chunk(splits):
        log_marginal = torch.logsumexp(chunk, dim=0) - math.log(chunk.shape[0])
        kl = (chunk.exp() * (chunk - log_marginal)).sum(1).mean()
        scores.append(torch.exp(kl))
    return float(torch.stack(scores).mean())
