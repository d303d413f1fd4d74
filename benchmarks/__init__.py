"""Helpers for scripts/benchmark.py: synthetic form data at any size."""
