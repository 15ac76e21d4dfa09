"""Seeing jobs end: the poller (watermark and active set) and MetaStudio's push callbacks
(docs/polling.md)."""
