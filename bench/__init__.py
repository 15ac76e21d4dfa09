"""Benchmarks against the MetaStudio simulator and a fake Slack on loopback.

``python -m bench`` runs them all and prints one table (each figure with a baseline
measured in the same run, and their ratio); ``--quick`` is the smoke mode the test
suite runs; ``--only poll,ack`` picks benchmarks. Results: ``bench/RESULTS.md``.
"""
