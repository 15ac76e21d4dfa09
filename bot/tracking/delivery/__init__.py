"""Telling Slack exactly once: the transactional outbox, the sender with its pacing,
sizing and pause, the markers found again after a crash, covers and audiences
(docs/delivery.md)."""
