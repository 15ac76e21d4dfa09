"""HTTP mode: a WSGI app for ``POST /slack/events``, ``GET /healthz``, ``GET /metrics``
and, with ``METASTUDIO_CALLBACK_KEY``, ``POST /metastudio/callback``, served by gunicorn
(``videojobs-bot http``)."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from prometheus_client import make_wsgi_app as make_metrics_app
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy.exc import SQLAlchemyError

from ..settings import Settings
from ..slack.app import TokenCheck, create_app
from ..slack.listeners.answer import AnswerHere, Dispatcher
from ..slack.request_front import SlackRequestGate, refuse
from ..slack.services import Services
from ..telemetry.metrics import metrics_registry
from ..telemetry.processes import forget_process
from ..tracking.polling.callbacks import PATH as CALLBACK_PATH
from ..tracking.polling.callbacks import wsgi_handler
from ..tracking.process.supervisor import (
    SUPERVISOR_DIED,
    exit_text,
    read_status,
    tracking_health,
    write_status,
)
from ..wiring.services import build_services
from ..wiring.tracking import build_receiver, first_time_events
from .health import Health, HealthCheck, Ready, probe_database
from .logging_setup import RedactingFilter, install_filter, secret_values

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
#: Whether the tracking loop runs where it should, and what /healthz says of it.
TrackingCheck = Callable[[], tuple[bool, dict[str, Any]]]


def tracking_elsewhere() -> tuple[bool, dict[str, Any]]:
    """``http --no-worker``: a separate ``videojobs-bot worker`` runs tracking."""
    return True, {"status": "elsewhere"}


def make_wsgi_app(
    services: Services, settings: Settings, tracking: TrackingCheck | None = None,
    answers: Dispatcher | None = None, token: TokenCheck | None = None,
) -> WSGIApp:
    """``/slack/events`` goes through the front (:mod:`bot.slack.request_front`: body cap,
    signature and timestamp on the raw bytes; a forged, stale, oversized or malformed
    request gets 4xx before anything runs, and an event Slack retries after it was let
    through an empty 200) and then to Bolt; this adds the health check
    and the Prometheus metrics beside it, and 404 for every other path. ``tracking``
    tells ``/healthz`` whether the tracking loop this server is meant to run is running.
    ``answers`` answers commands after their ack (by default in this process).

    Slack is not asked anything here: ``token`` (by default a :class:`TokenCheck`
    started now) verifies ``SLACK_BOT_TOKEN`` in the background, so a Slack outage at
    start-up leaves the server up, with ``/healthz`` saying so."""
    given = settings.slack_signing_secret
    secret = given.get_secret_value() if given is not None else ""
    if not secret:
        # load_settings("http") refuses to start without it; built anyway, the front
        # refuses every request rather than let an unsigned one through.
        log.error("SLACK_SIGNING_SECRET is not set: every request to /slack/events is refused")
    # Slack retries an event to whichever process answers: the shared database tells.
    gate = SlackRequestGate(secret, first_time=first_time_events(services.tracking.store))
    dispatcher = answers or AnswerHere(services)
    slack = SlackRequestHandler(create_app(services, dispatcher, verified_in_front=True))
    if token is None:
        token = TokenCheck(services.slack, first_wait=settings.slack_verify_seconds,
                           max_wait=settings.slack_verify_max_seconds).start()
    metrics = make_metrics_app(metrics_registry())
    health = HealthCheck(lambda: _health_probe(services, tracking, token, dispatcher))
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


def _health_probe(services: Services, tracking: TrackingCheck | None,
                  token: TokenCheck | None = None, answers: Dispatcher | None = None
                  ) -> Health:
    """The database probe, then the answering process, Slack, delivery and tracking
    (docs/delivery.md): 503 ``"answers": "starting"`` until the answering process
    answers (a command sent before would wait for it); ``slack`` until Slack has
    accepted the token and ``delivery`` while Slack refuses it (both "degraded", still
    200: restarting this server would not fix either), and 503 with the reason when the
    tracking loop this server should run is not running."""
    healthy, report = probe_database(services.tracking)
    if not healthy:
        return healthy, report
    unverified = token.report() if token is not None else None
    if unverified is not None:
        report["status"] = "degraded"
        report["slack"] = unverified
    try:
        paused = services.tracking.outbox.workspace_pause()
    except SQLAlchemyError as e:
        log.warning("health check: the database did not answer (%s)", type(e).__name__)
        return False, {"status": "error", "database": "unreachable"}
    if paused is not None:
        report["status"] = "degraded"
        report["delivery"] = {"paused": paused[0], "since": paused[1].isoformat(),
                              "fix": "SLACK_BOT_TOKEN"}
    if tracking is not None:
        running, report["tracking"] = tracking()
        if not running:
            report["status"] = "error"
            return False, report
    if isinstance(answers, Ready) and not answers.ready():
        # Not ready for Slack yet: a command sent now would wait for the child to start.
        report["status"], report["answers"] = "starting", "starting"
        return False, report
    return True, report


class _Gunicorn(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    """gunicorn embedded, so the process reads its settings once like every other mode."""

    def __init__(self, settings: Settings, options: dict[str, Any],
                 tracking: TrackingCheck | None = None,
                 tracking_process: _TrackingProcess | None = None):
        self.settings = settings
        self.options = options
        self.tracking = tracking
        self.tracking_process = tracking_process
        super().__init__()

    def run(self) -> None:
        """``BaseApplication.run`` with :class:`_Arbiter`, the master that also keeps
        the tracking supervisor running."""
        try:
            _Arbiter(self).run()
        except RuntimeError as e:
            print(f"\nError: {e}\n", file=sys.stderr)
            sys.exit(1)

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> WSGIApp:
        # Runs in each worker, after gunicorn set up its own (non-propagating) loggers.
        gunicorn_loggers = (logging.getLogger(f"gunicorn.{name}") for name in ("error", "access"))
        install_filter(RedactingFilter(secret_values(self.settings)), *gunicorn_loggers)
        services = build_services(self.settings)
        answers: Dispatcher = AnswerHere(services)
        if self.settings.videojobs_answer_process:
            from .answer_process import AnswerProcess

            answers = AnswerProcess(self.settings)
        return make_wsgi_app(services, self.settings, self.tracking, answers)


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
        "child_exit": _worker_exited,
    }
    check: TrackingCheck = tracking_elsewhere
    process = None
    if tracking:
        process = _TrackingProcess(
            Path(tempfile.mkdtemp(prefix="videojobs-")) / "tracking.json",
            backoff=settings.tracking_restart_seconds,
            max_backoff=settings.tracking_restart_max_seconds)
        options.update(process.hooks())
        check = process.health
    _Gunicorn(settings, options, check, process).run()


def _worker_exited(server: Any, worker: Any) -> None:
    """gunicorn's ``child_exit`` hook (in the master, once it has reaped a worker): the
    worker's live gauges leave ``/metrics`` with it (bot/telemetry/processes.py)."""
    forget_process(worker.pid)


class _Arbiter(Arbiter):  # type: ignore[misc]  # gunicorn ships no type hints
    """gunicorn's master, which also restarts the tracking supervisor when it dies.

    No hook of gunicorn's runs when a child that is not a worker exits, nor now and
    then: ``child_exit`` is for workers, and the master reaps every other child with
    ``waitpid(-1)``, its exit status unseen. So this does what gunicorn does for its
    own extra process (the "dirty arbiter"): on SIGCHLD, reap the supervisor by its pid
    before gunicorn reaps the rest, and once a loop (at least every second, from
    ``manage_workers``) start a dead one again after its backoff. Everything runs on
    the master's one thread, between its own steps: no thread is forked mid-lock."""

    def __init__(self, app: _Gunicorn) -> None:
        self.tracking_process = app.tracking_process
        super().__init__(app)

    def handle_chld(self) -> None:
        if self.tracking_process is not None:
            self.tracking_process.reap()
        super().handle_chld()

    handle_cld = handle_chld  # gunicorn names the handler after either signal name

    def manage_workers(self) -> None:
        super().manage_workers()
        if self.tracking_process is not None:
            self.tracking_process.tend()


class _TrackingProcess:
    """The supervised tracking loop (``videojobs-bot worker --supervise``, which runs
    and restarts ``videojobs-bot worker``) as a child of gunicorn's master. Started and
    stopped by master-only hooks, and restarted by :class:`_Arbiter` when it dies: code
    around ``run()`` would also run in every forked worker, and a poller thread in the
    master would be forked mid-lock. Several pollers on one database are safe (the
    outbox leases rows), so a separate worker dyno is optional. The supervisor writes
    its state to ``status_path`` every second; every gunicorn worker reads it for
    ``/healthz`` (:func:`bot.tracking.process.supervisor.tracking_health`), and this
    writes there too while the supervisor itself is dead.

    A dead supervisor is started again after ``backoff`` seconds, doubling up to
    ``max_backoff``, back to ``backoff`` once one has run ``stable`` seconds (the
    settings of the tracking process's own restarts). Its tracking process stops with
    it (:func:`bot.tracking.process.supervisor.dies_with_parent`)."""

    def __init__(self, status_path: Path, *, backoff: float = 1.0, max_backoff: float = 60.0,
                 stable: float = 60.0) -> None:
        self.status_path = status_path
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.stable = stable
        self.process: subprocess.Popen[bytes] | None = None
        #: Supervisors started again after dying.
        self.restarts = 0
        self._delay = backoff
        self._started = 0.0
        #: ``time.monotonic()`` at which to start a dead supervisor again.
        self._restart_at: float | None = None
        self._stopping = False

    def hooks(self) -> dict[str, Any]:
        return {"when_ready": self.start, "on_exit": self.stop}

    def health(self) -> tuple[bool, dict[str, Any]]:
        return tracking_health(self.status_path)

    def start(self, server: Any = None) -> None:
        # Written first: a supervisor quick to write its own state is never overwritten.
        write_status(self.status_path, state="starting", restarts=0)
        # Settings come from the same environment and .env, read once by the child.
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and a temp path)
            [sys.executable, "-m", "bot", "worker", "--supervise",
             "--status-file", str(self.status_path)])
        self._started = time.monotonic()
        self._restart_at = None

    def reap(self) -> None:
        """If the supervisor has exited: say so (log, status file), forget its and its
        child's live gauges, and schedule its restart."""
        process = self.process
        if process is None or self._restart_at is not None or self._stopping:
            return
        code = process.poll()  # waitpid on its pid; 0 if gunicorn reaped it first
        if code is None:
            return
        if time.monotonic() - self._started >= self.stable:
            self._delay = self.backoff
        self.restarts += 1
        last = read_status(self.status_path) or {}
        log.error("the tracking supervisor (pid %d) died, %s; restarting it in %g s "
                  "(restart %d)", process.pid, exit_text(code), self._delay, self.restarts)
        write_status(self.status_path, state=SUPERVISOR_DIED, last_exit_code=code,
                     restart_at=time.time() + self._delay,
                     restarts=last.get("restarts", 0))
        forget_process(process.pid)
        if isinstance(last.get("pid"), int):
            forget_process(last["pid"])  # its tracking process stops with it
        self._restart_at = time.monotonic() + self._delay
        self._delay = min(self._delay * 2, self.max_backoff)

    def tend(self) -> None:
        """From the master's loop: notice a dead supervisor, and start it again once
        its wait is over."""
        self.reap()
        if (self._restart_at is not None and not self._stopping
                and time.monotonic() >= self._restart_at):
            self.start()

    def stop(self, server: Any) -> None:
        self._stopping = True
        try:
            if self.process is None or self.process.poll() is not None:
                return
            self.process.terminate()  # SIGTERM: the supervisor stops the loop, then itself
            try:
                self.process.wait(timeout=45)  # longer than the supervisor waits for the loop
            except subprocess.TimeoutExpired:
                self.process.kill()
        finally:
            shutil.rmtree(self.status_path.parent, ignore_errors=True)
