"""fick.pipelines: training, sampling, evaluation, tracking and the ``fick`` CLI."""

from fick.pipelines.threads import prefer_passive_waiting

prefer_passive_waiting()  # before torch is imported: see fick.pipelines.threads
