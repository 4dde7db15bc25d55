"""Observability: counters, logs (and later metrics and notify)."""
