"""Metric definitions of the SC09 protocol against hand computations and closed forms."""

import math

import numpy as np
import pytest
import torch
from fick.domains.audio.metrics import (
    am_score,
    conditional_accuracy,
    frechet_distance,
    gaussian_stats,
    inception_score,
    modified_inception_score,
    spectral_convergence,
)


def test_inception_score_of_a_uniform_confident_classifier_is_the_class_count():
    probs = torch.eye(10).repeat(5, 1)  # every class equally often, each with certainty
    assert inception_score(probs) == pytest.approx(10.0, rel=1e-6)
    assert inception_score(torch.full((7, 10), 0.1)) == pytest.approx(1.0)  # no confidence
    assert inception_score(torch.eye(10)[[3] * 8]) == pytest.approx(1.0)  # no diversity


def test_modified_inception_score_by_hand():
    p = np.array([[0.9, 0.1], [0.2, 0.8]])
    kl = lambda a, b: float(np.sum(a * np.log(a / b)))  # noqa: E731
    # mean over the 4 ordered pairs, the two self-pairs contribute 0
    expected = math.exp((kl(p[0], p[1]) + kl(p[1], p[0])) / 4)
    assert modified_inception_score(p) == pytest.approx(expected, rel=1e-9)
    soft = 0.9 * np.eye(10) + 0.01  # confident-but-smoothed, rows sum to 1
    pair = kl(soft[0], soft[1])
    assert modified_inception_score(soft) == pytest.approx(math.exp(pair * 90 / 100), rel=1e-9)


def test_am_score_by_hand():
    gen = np.array([[0.7, 0.3], [0.5, 0.5]])
    ref = np.array([[1.0, 0.0], [0.0, 1.0]]) * (1 - 2e-12) + 1e-12
    marginal = gen.mean(0)
    entropy = -np.mean([np.sum(r * np.log(r)) for r in gen])
    expected = float(np.sum(0.5 * np.log(0.5 / marginal))) + entropy
    assert am_score(gen, ref) == pytest.approx(expected, rel=1e-6)
    assert am_score(torch.eye(4), torch.eye(4)) == pytest.approx(0.0, abs=1e-6)


def test_conditional_accuracy():
    probs = torch.tensor([[0.9, 0.1], [0.4, 0.6], [0.8, 0.2]])
    assert conditional_accuracy(probs, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0]), np.array([1.0, 3.0])
    s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    # diagonal: sum (m1 - m2)^2 + sum (sqrt(v1) - sqrt(v2))^2
    expected = 1 + 4 + (1 - 3) ** 2 + (2 - 1) ** 2
    assert frechet_distance((mu1, s1), (mu2, s2)) == pytest.approx(expected, rel=1e-9)
    x = torch.randn(500, 3, dtype=torch.float64)
    assert frechet_distance(gaussian_stats(x), gaussian_stats(x)) == pytest.approx(0.0, abs=1e-6)


def test_spectral_convergence():
    x = torch.randn(2, 4000, dtype=torch.float64)
    assert spectral_convergence(x, x) == pytest.approx(0.0, abs=1e-12)
    assert spectral_convergence(0.5 * x, x) == pytest.approx(0.5, rel=1e-9)
    assert spectral_convergence(-x, x) == pytest.approx(0.0, abs=1e-9)  # magnitudes ignore phase
