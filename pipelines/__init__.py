"""fick.pipelines: training, sampling, evaluation, tracking and the ``fick`` CLI."""
