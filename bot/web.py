"""HTTP mode: a WSGI app for ``POST /slack/events``, ``GET /healthz``, ``GET /metrics``
and, with ``METASTUDIO_CALLBACK_KEY``, ``POST /metastudio/callback``, served by gunicorn
(``videojobs-bot http``)."""

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

from .app import create_app
from .callbacks import PATH as CALLBACK_PATH
from .callbacks import build_receiver, wsgi_handler
from .health import HealthCheck, probe_database
from .logging_setup import RedactingFilter, install_filter, secret_values
from .metrics import metrics_registry
from .request_front import SlackRequestGate, refuse
from .services import Services, build_services
from .settings import Settings

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def make_wsgi_app(services: Services, settings: Settings) -> WSGIApp:
    """``/slack/events`` goes through the front (:mod:`bot.request_front`: body cap,
    signature and timestamp on the raw bytes; a forged, stale, oversized or malformed
    request gets 4xx before anything runs) and then to Bolt; this adds the health check
    and the Prometheus metrics beside it, and 404 for every other path."""
    secret = settings.slack_signing_secret
    gate = SlackRequestGate(secret.get_secret_value() if secret else "")
    slack = SlackRequestHandler(create_app(settings, services, verified_in_front=True))
    metrics = make_metrics_app(metrics_registry())
    health = HealthCheck(lambda: probe_database(services.tracking))
    receiver = build_receiver(settings, services.tracking)
    callback = wsgi_handler(receiver) if receiver is not None else None

    def application(
        environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/healthz" and method in ("GET", "HEAD"):
            healthy, report = health()
            body = json.dumps(report).encode()
            start_response("200 OK" if healthy else "503 Service Unavailable",
                           [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
            return [body]
        if path == "/metrics" and method in ("GET", "HEAD"):
            answer: Iterable[bytes] = metrics(environ, start_response)
            return answer
        if path == CALLBACK_PATH and callback is not None:
            return callback(environ, start_response)  # MetaStudio's job callbacks
        if path == "/slack/events" and method == "POST":
            refusal = gate.admit(environ)
            if refusal is not None:
                return refuse(refusal, environ, start_response)
        return slack(environ, start_response)

    return application


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
