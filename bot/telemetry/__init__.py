"""Observability shared by every layer: the Prometheus metrics, defined once."""
