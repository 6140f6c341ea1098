"""Frechet distance and Inception Score against closed forms and scipy."""

import numpy as np
import pytest
import scipy.linalg
import torch
from fick.domains.images.metrics import frechet_distance, inception_score


def _scipy_frechet(a: np.ndarray, b: np.ndarray) -> float:
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * covmean))


def test_frechet_distance_of_a_set_with_itself_is_zero():
    f = torch.randn(500, 16, dtype=torch.float64)
    assert frechet_distance(f, f) == pytest.approx(0.0, abs=1e-8)


def test_mean_shift_adds_its_squared_norm_and_scale_grows_it():
    f = torch.randn(400, 8, dtype=torch.float64)
    shift = torch.arange(8, dtype=torch.float64) / 4
    # identical covariances: the distance is exactly |shift|^2
    assert frechet_distance(f, f + shift) == pytest.approx(float(shift.pow(2).sum()), rel=1e-9)
    assert frechet_distance(f, 2 * f) > frechet_distance(f, 1.1 * f) > 0


def test_frechet_distance_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 12)) @ rng.normal(size=(12, 12))
    b = rng.normal(size=(250, 12)) @ rng.normal(size=(12, 12)) + 0.5
    ours = frechet_distance(torch.from_numpy(a), torch.from_numpy(b))
    assert ours == pytest.approx(_scipy_frechet(a, b), rel=1e-6)
    # float32 features are promoted to float64 internally
    assert frechet_distance(
        torch.from_numpy(a).float(), torch.from_numpy(b).float()
    ) == pytest.approx(ours, rel=1e-4)


def test_inception_score_bounds():
    k = 10
    confident = torch.eye(k).repeat(20, 1) * 50  # sure of each class, all classes equally often
    assert inception_score(confident) == pytest.approx(k, rel=1e-6)
    assert inception_score(torch.zeros(200, k)) == pytest.approx(1.0)
    collapsed = torch.zeros(200, k)
    collapsed[:, 3] = 50  # every sample the same class: no diversity
    assert inception_score(collapsed) == pytest.approx(1.0, abs=1e-6)
