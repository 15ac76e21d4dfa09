"""``videojobs-bot``: one subcommand per way to run the bot (README.md, "Running it").

Configuration is read once here (:func:`load_settings`) and passed down. A missing or
malformed setting prints one line naming it and exits with status 2.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from .serve.logging_setup import configure_logging
from .settings import Settings, SettingsError, load_settings


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from .serve.demo import run

    return run(settings, stdin=sys.stdin, stdout=sys.stdout, speed=getattr(args, "speed", 1.0))


def _http(settings: Settings, args: argparse.Namespace) -> int:
    from .serve.multiproc import prepare_multiprocess_dir

    prepare_multiprocess_dir()  # before bot.serve.web imports prometheus_client
    from .serve.web import serve

    serve(settings, workers=args.workers, threads=args.threads, tracking=not args.no_worker)
    return 0


def _socket(settings: Settings, args: argparse.Namespace) -> int:
    from .serve.socket_mode import serve

    return serve(settings)


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: _set_from_handler(stop))
    if args.supervise:
        from .tracking.process.supervisor import Supervisor

        return Supervisor(
            [sys.executable, "-m", "bot", "worker"], status_path=args.status_file,
            backoff=settings.tracking_restart_seconds,
            max_backoff=settings.tracking_restart_max_seconds,
        ).run(stop)

    from .tracking.process.worker import run_worker
    from .wiring.services import build_services

    run_worker(build_services(settings).tracking, stop)
    return 0


def _set_from_handler(stop: threading.Event) -> None:
    """Set ``stop`` from a signal handler. The handler runs in the main thread between
    two bytecodes, possibly while that thread holds ``stop``'s own lock (entering
    ``stop.wait``): ``stop.set()`` there would wait for itself forever. A thread of its
    own takes the lock once the main thread lets go of it."""
    threading.Thread(target=stop.set, name="stop-signal", daemon=True).start()


def _check(settings: Settings, args: argparse.Namespace) -> int:
    from .serve.check import run_check
    from .wiring.metastudio import build_jobs_client
    from .wiring.services import build_slack_client

    return run_check(settings, slack=build_slack_client(settings), jobs=build_jobs_client(settings))


def _simulator(settings: Settings, args: argparse.Namespace) -> int:
    from .simulator import run

    run(args.port, args.host, args.seed_jobs)
    return 0


def _positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {raw!r}")
    return value


def _positive_env(name: str, default: int) -> int:
    """gunicorn tuning from the platform's conventional variables (WEB_CONCURRENCY)."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"{name}: expected a positive whole number, got {raw!r}")
    return int(raw)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="videojobs-bot",
        description="Slack chat-ops bot for MetaStudio video production tasks.",
    )
    parser.set_defaults(mode="demo", run=_demo)
    sub = parser.add_subparsers(title="modes", metavar="MODE")

    demo = sub.add_parser("demo", help="simulator + local console, no credentials (default)")
    demo.add_argument(
        "--speed", type=_positive_float, default=1.0,
        help="simulated time runs this many times as fast (jobs finish in seconds, not minutes)",
    )
    demo.set_defaults(mode="demo", run=_demo)

    http = sub.add_parser(
        "http", help="serve /slack/events, /healthz, /metrics on $PORT, with the tracking loop"
    )
    http.add_argument(
        "--no-worker", action="store_true",
        help="leave tracking to a separate `videojobs-bot worker` (the Procfile does this)",
    )
    http.set_defaults(mode="http", run=_http)

    socket = sub.add_parser(
        "socket", help="Socket Mode (needs SLACK_APP_TOKEN), with the tracking loop in-process"
    )
    socket.set_defaults(mode="socket", run=_socket)

    worker = sub.add_parser("worker", help="only the tracking poller and notifier")
    worker.add_argument(
        "--supervise", action="store_true",
        help="run the worker as a child process and restart it whenever it dies "
             "(what `http` does for its tracking loop)",
    )
    worker.add_argument(
        "--status-file", type=Path, default=Path("videojobs-tracking.json"),
        help="with --supervise: where to write the child's state (read by /healthz)",
    )
    worker.set_defaults(mode="worker", run=_worker)

    check = sub.add_parser("check", help="try the configuration against Slack and MetaStudio")
    check.set_defaults(mode="check", run=_check)

    simulator = sub.add_parser("simulator", help="the MetaStudio simulator alone")
    simulator.add_argument("--port", type=int, default=8080)
    simulator.add_argument("--host", default="127.0.0.1")
    simulator.add_argument("--seed-jobs", type=int, default=200)
    simulator.set_defaults(mode="simulator", run=_simulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.mode)
        if args.mode == "http":
            args.workers = _positive_env("WEB_CONCURRENCY", 1)
            args.threads = _positive_env("WEB_THREADS", 8)
    except SettingsError as e:
        print(f"videojobs-bot: {e}", file=sys.stderr)
        return 2
    if args.mode == "demo" and "log_level" not in settings.model_fields_set:
        # The console is the demo's output: log lines only when something is wrong.
        settings = settings.model_copy(update={"log_level": "WARNING"})
    configure_logging(settings)
    status: int = args.run(settings, args)
    return status
