"""Sample-quality statistics every domain shares, computed in float64: the Frechet distance
between Gaussians fitted to two feature sets (FID, FVD, FAD, FCD-style) and the Inception Score.

Each domain supplies its own feature network (an image, video or audio classifier trained by
fick, ChemNet, ...); these functions only see the features or logits.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .errors import FickError

__all__ = ["frechet_distance", "gaussian_stats", "inception_score"]


def gaussian_stats(features) -> tuple[Tensor, Tensor]:
    """Mean (D,) and unbiased covariance (D, D) of (N, D) features (a tensor or an array)."""
    f = torch.as_tensor(features).detach().to(device="cpu", dtype=torch.float64)
    if f.dim() == 1:
        f = f.reshape(-1, 1)
    if f.shape[0] < 2:
        raise FickError("the Frechet distance needs at least 2 feature vectors per set: "
                        "draw more samples")
    mu = f.mean(0)
    centred = f - mu
    return mu, centred.T @ centred / (f.shape[0] - 1)


def _stats(x) -> tuple[Tensor, Tensor]:
    if isinstance(x, tuple | list) and len(x) == 2:
        mu, cov = (torch.as_tensor(v).to(device="cpu", dtype=torch.float64) for v in x)
        return mu.reshape(-1), cov.reshape(mu.numel(), mu.numel())
    return gaussian_stats(x)


def _sqrt_psd(matrix: Tensor) -> Tensor:
    vals, vecs = torch.linalg.eigh(matrix)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


def frechet_distance(a, b) -> float:
    """``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``; ``a`` and ``b`` are each (N, D)
    features or a (mean, covariance) pair (e.g. precomputed reference statistics).

    ``tr((S_a S_b)^(1/2))`` is the sum of square roots of the eigenvalues of the symmetric PSD
    matrix ``S_a^(1/2) S_b S_a^(1/2)`` (similar to S_a S_b), which avoids a non-symmetric sqrtm.
    """
    mu_a, cov_a = _stats(a)
    mu_b, cov_b = _stats(b)
    if mu_a.shape != mu_b.shape:
        raise FickError(f"feature dimensions differ ({mu_a.numel()} vs {mu_b.numel()}): "
                        "compare features of the same network")
    root_a = _sqrt_psd(cov_a)
    middle = root_a @ cov_b @ root_a
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    value = (mu_a - mu_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * trace_sqrt
    return float(value.clamp(min=0))


def inception_score(logits, splits: int = 1) -> float:
    """exp(E_x KL(p(y|x) || p(y))) of classifier logits (N, K), between 1 and K; for class
    probabilities pass their logarithm."""
    log_p = torch.log_softmax(torch.as_tensor(logits).detach().to(torch.float64), dim=1)
    scores = []
    for chunk in log_p.chunk(splits):
        log_marginal = torch.logsumexp(chunk, dim=0) - math.log(chunk.shape[0])
        kl = (chunk.exp() * (chunk - log_marginal)).sum(1).mean()
        scores.append(torch.exp(kl))
    return float(torch.stack(scores).mean())
