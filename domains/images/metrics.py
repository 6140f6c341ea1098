"""Sample metrics in the feature space of a classifier trained by fick (the SC09 / DiffWave
protocol applied to images): class accuracy of conditional samples, Frechet distance (FID) and
Inception Score (IS). The statistics are fick.core's (``fick.core.sample_metrics``, float64),
shared with the other domains.
"""

from __future__ import annotations

from fick.core.sample_metrics import frechet_distance, gaussian_stats, inception_score

__all__ = ["frechet_distance", "gaussian_stats", "inception_score"]
