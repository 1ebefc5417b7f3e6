"""Benchmarks: each prints its figures and ratios; none asserts a time."""
