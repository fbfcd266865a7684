"""Benchmarks (not tests): they print figures against baselines measured in the same run."""
