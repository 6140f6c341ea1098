"""Benchmarks of fick, run like a user would (``python -m benchmarks.<name>``); each writes its
tables into BENCHMARKS.md. Not installed with the package and not run by the tests."""
