"""HTTP mode: a WSGI app for ``POST /slack/events``, ``GET /healthz`` and ``GET /metrics``,
served by gunicorn (``videojobs-bot http``)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable, Iterable
from typing import Any

from gunicorn.app.base import BaseApplication
from prometheus_client import make_wsgi_app as make_metrics_app
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy.exc import SQLAlchemyError

from .app import create_app
from .logging_setup import RedactingFilter, install_filter, secret_values
from .services import Services, build_services
from .settings import Settings

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def make_wsgi_app(services: Services, settings: Settings) -> WSGIApp:
    """Bolt's handler answers ``/slack/events`` (signature and 5-minute timestamp checks
    included: a forged or stale request gets 401 before any listener runs) and 404 for
    every other path; this adds the health check and the Prometheus metrics in front."""
    slack = SlackRequestHandler(create_app(settings, services))
    metrics = make_metrics_app()

    def application(
        environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/healthz" and method in ("GET", "HEAD"):
            status, health = _health(services)
            body = json.dumps(health).encode()
            start_response(status, [("Content-Type", "application/json"),
                                    ("Content-Length", str(len(body)))])
            return [body]
        if path == "/metrics" and method in ("GET", "HEAD"):
            answer: Iterable[bytes] = metrics(environ, start_response)
            return answer
        return slack(environ, start_response)

    return application


def _health(services: Services) -> tuple[str, dict[str, Any]]:
    """Healthy when the database answers; the outbox depth tells a stuck notifier."""
    try:
        depth = services.tracking.outbox.depth()
    except SQLAlchemyError as e:
        log.warning("health check: the database did not answer (%s)", type(e).__name__)
        return "503 Service Unavailable", {"status": "error", "database": "unreachable"}
    return "200 OK", {"status": "ok", "outbox_depth": depth}


class _Gunicorn(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    """gunicorn embedded, so the process reads its settings once like every other mode."""

    def __init__(self, settings: Settings, options: dict[str, Any]):
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> WSGIApp:
        # Runs in each worker, after gunicorn set up its own (non-propagating) loggers.
        gunicorn_loggers = (logging.getLogger(f"gunicorn.{name}") for name in ("error", "access"))
        install_filter(RedactingFilter(secret_values(self.settings)), *gunicorn_loggers)
        return make_wsgi_app(build_services(self.settings), self.settings)


def serve(settings: Settings, *, workers: int, threads: int, tracking: bool = True) -> None:
    """Run gunicorn's threaded workers on ``$PORT`` until stopped, and with ``tracking``
    the poller/notifier beside them as ``videojobs-bot worker``.

    Each worker builds its own services: the MetaStudio cache, the timezone cache and the
    Prometheus counters are per process, so one worker with many threads is the default.
    """
    options: dict[str, Any] = {
        "bind": f"0.0.0.0:{settings.port}",
        "worker_class": "gthread",
        "workers": workers,
        "threads": threads,
        "loglevel": settings.log_level.lower(),
    }
    if tracking:
        options.update(_TrackingProcess().hooks())
    _Gunicorn(settings, options).run()


class _TrackingProcess:
    """``videojobs-bot worker`` as a child of gunicorn's master. Started and stopped by
    master-only hooks: code around ``run()`` would also run in every forked worker, and
    a poller thread in the master would be forked mid-lock. Several pollers on one
    database are safe (the outbox claims rows), so a separate worker dyno is optional."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    def hooks(self) -> dict[str, Any]:
        return {"when_ready": self.start, "on_exit": self.stop}

    def start(self, server: Any) -> None:
        # Settings come from the same environment and .env, read once by the child.
        self.process = subprocess.Popen([sys.executable, "-m", "bot", "worker"])

    def stop(self, server: Any) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # SIGTERM: the loop finishes its cycle and stops
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
