"""The shared sample statistics (fick.core.sample_metrics, time embedding) against closed forms."""

from __future__ import annotations

import math

import pytest
import torch
from fick.core import FickError
from fick.core.sample_metrics import frechet_distance, gaussian_stats, inception_score
from fick.core.time_embedding import sinusoidal_embedding


def test_frechet_distance_of_diagonal_gaussians_is_closed_form():
    """For diagonal covariances the distance is |mu_a - mu_b|^2 + sum (sqrt(a_i) - sqrt(b_i))^2."""
    mu_a, mu_b = torch.tensor([0.0, 1.0, -2.0]), torch.tensor([0.5, 1.0, 0.0])
    var_a, var_b = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 0.25])
    expected = float((mu_a - mu_b).pow(2).sum() + (var_a.sqrt() - var_b.sqrt()).pow(2).sum())
    got = frechet_distance((mu_a, torch.diag(var_a)), (mu_b, torch.diag(var_b)))
    assert got == pytest.approx(expected, rel=1e-12)


def test_features_and_their_statistics_give_the_same_distance():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(300, 5, generator=gen, dtype=torch.float64)
    b = torch.randn(200, 5, generator=gen, dtype=torch.float64) * 1.5 + 0.3
    direct = frechet_distance(a, b)
    assert frechet_distance(gaussian_stats(a), b) == pytest.approx(direct, rel=1e-12)
    assert frechet_distance(a, gaussian_stats(b)) == pytest.approx(direct, rel=1e-12)
    with pytest.raises(FickError, match="at least 2"):
        frechet_distance(a[:1], b)
    with pytest.raises(FickError, match="dimensions differ"):
        frechet_distance(a, b[:, :4])


def test_inception_score_of_probabilities_passed_as_log_probabilities():
    k = 4
    uniform = torch.full((8, k), 1.0 / k)
    assert inception_score(uniform.log()) == pytest.approx(1.0, rel=1e-12)
    sure = torch.eye(k, dtype=torch.float64).repeat(3, 1) * 0.96 + 0.01  # rows sum to one
    expected = math.exp(sum(p * math.log(p / 0.25) for p in (0.97, 0.01, 0.01, 0.01)))
    assert inception_score(sure.log()) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("order", ["cos-sin", "sin-cos"])
def test_sinusoidal_embedding_is_the_ddpm_formula(order):
    t = torch.tensor([0.0, 3.0, 250.5])
    dim, half = 10, 5
    emb = sinusoidal_embedding(t, dim, order=order)
    freqs = [10000 ** (-i / half) for i in range(half)]
    cos = torch.tensor([[math.cos(v * f) for f in freqs] for v in t.tolist()])
    sin = torch.tensor([[math.sin(v * f) for f in freqs] for v in t.tolist()])
    expected = torch.cat([cos, sin] if order == "cos-sin" else [sin, cos], dim=1)
    torch.testing.assert_close(emb, expected, atol=2e-4, rtol=0)
    odd = sinusoidal_embedding(t, dim + 1, order=order)
    assert odd.shape == (3, dim + 1) and bool((odd[:, -1] == 0).all())
