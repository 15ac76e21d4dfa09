"""Prometheus metrics, defined once so every module records into the same objects.

Served at ``GET /metrics`` (``bot.serve.web``). Label values are small closed sets (command
names, outcomes, HTTP status classes), never user text or ids.

Under ``videojobs-bot http`` every gunicorn worker and the tracking child record into
files in ``PROMETHEUS_MULTIPROC_DIR`` (set by :mod:`bot.serve.multiproc` before this module is
first imported), and ``/metrics`` sums them: prometheus_client's multiprocess mode,
https://prometheus.github.io/client_python/multiprocess/.

Counters and histograms add up across processes, dead ones included. Each gauge says
how its processes' values combine (``multiprocess_mode``); the ``live*`` modes leave out
a process once its parent has marked it dead (:func:`bot.telemetry.processes.forget_process`),
so a killed process does not keep its last value on ``/metrics``. Without the mode, a
gauge is one series per pid, and a dead pid's series stays until the server restarts.
"""

from __future__ import annotations

import os

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess

COMMANDS = Counter(
    "videojobs_commands_total",
    "Slash commands and button actions handled, by name and outcome",
    ["command", "outcome"],  # outcome: ok, invalid, upstream_error, error
)
UPSTREAM_REQUESTS = Counter(
    "videojobs_upstream_requests_total",
    "MetaStudio HTTP requests, by final status (or 'error' for no answer)",
    ["status"],
)
UPSTREAM_LATENCY = Histogram(
    "videojobs_upstream_request_seconds",
    "MetaStudio request latency including transport retries",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CACHE_LOOKUPS = Counter(
    "videojobs_cache_lookups_total", "Cached-client lookups, by result", ["result"]  # hit, miss
)
NOTIFICATIONS = Counter(
    "videojobs_notifications_total",
    "Notification deliveries, by result",
    ["result"],  # sent, retried, failed, image_fallback, paused
)
#: The outbox is shared: the newest reading of a running process is the depth. A
#: process that died took its reading with it (``livemostrecent``): a stale depth would
#: look current, where no series says that nobody is looking.
OUTBOX_DEPTH = Gauge(
    "videojobs_outbox_depth", "Notifications waiting to be delivered",
    multiprocess_mode="livemostrecent",
)
POLL_CYCLE = Histogram(
    "videojobs_poll_cycle_seconds",
    "Duration of one poll cycle",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
POLL_UPSTREAM_CALLS = Histogram(
    "videojobs_poll_upstream_calls",
    "Upstream requests made by one poll cycle",
    buckets=(0, 1, 2, 3, 5, 10, 20, 50, 100, 200),
)
#: 1 while Slack refuses the bot token and delivery is paused (docs/delivery.md): 1 if
#: any running process sees the pause (``livemax``), one series whatever the processes.
DELIVERY_PAUSED = Gauge(
    "videojobs_delivery_paused",
    "1 while Slack refuses SLACK_BOT_TOKEN and notification delivery is paused",
    multiprocess_mode="livemax",
)


def metrics_registry() -> CollectorRegistry:
    """What ``/metrics`` serves: every process's samples in multiprocess mode, else this
    process's own registry."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY
