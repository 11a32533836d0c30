"""Benchmarks: ``make bench`` runs bench/run.py (which ends with bench/lake.py)."""
