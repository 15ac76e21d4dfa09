"""Keeps the tracking loop running beside the web server (``videojobs-bot http``).

gunicorn's master reaps every child it did not fork itself, exit status included, so it
cannot supervise the tracking process directly. It starts this supervisor instead
(``videojobs-bot worker --supervise``), which runs ``videojobs-bot worker`` as its own
child, restarts it with capped exponential backoff whenever it dies, logs each death at
ERROR with its exit code, and writes its state to a JSON file that ``/healthz`` reads
(:func:`tracking_health`), rewriting it every second (``heartbeat``) so that a
supervisor that is gone or stuck shows. It stops with its parent, and its child stops
with it (on Linux the child is sent SIGTERM when the supervisor dies, even by SIGKILL).
gunicorn's master restarts a supervisor that died (``bot/serve/web.py``). See
``docs/delivery.md``.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ...telemetry.processes import forget_process

log = logging.getLogger(__name__)

#: How often the supervisor looks at its child and its parent.
CHECK_SECONDS = 0.1
#: How often the supervisor rewrites its status file (``heartbeat``)...
HEARTBEAT_SECONDS = 1.0
#: ...and how old a status may be before ``/healthz`` says its writer is gone or stuck
#: (a supervisor also has this long to start and write its first status).
STALE_SECONDS = 10.0
#: The state gunicorn's master writes once it has found the supervisor dead.
SUPERVISOR_DIED = "supervisor died"
#: linux/prctl.h
_PR_SET_PDEATHSIG = 1


def exit_text(code: int) -> str:
    """``exit code 1`` or ``killed by SIGKILL`` for a Popen return code."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def write_status(path: Path, **status: Any) -> None:
    """``status`` and the time of writing (``heartbeat``, epoch seconds) as JSON,
    replacing ``path`` at once: readers never see half a file, and the supervisor and
    gunicorn's master (each with its own temporary file) never mix theirs."""
    status["heartbeat"] = time.time()
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(status))
    temporary.replace(path)


def read_status(path: Path) -> dict[str, Any] | None:
    """The last status written to ``path``; None when there is none or it is unreadable."""
    try:
        status = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return status if isinstance(status, dict) else None


def dies_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` for a child that must not outlive the process starting it: on
    Linux, ``prctl(PR_SET_PDEATHSIG, SIGTERM)``, so a supervisor killed with SIGKILL
    does not leave its tracking loop running unsupervised (the loop finishes its cycle
    on SIGTERM). None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


class Supervisor:
    """Runs ``command`` until ``stop`` is set, restarting it when it exits: after
    ``backoff`` seconds, doubling up to ``max_backoff``, back to ``backoff`` once a child
    has run ``stable`` seconds. The waits are settings (``TRACKING_RESTART_SECONDS``,
    ``TRACKING_RESTART_MAX_SECONDS``), which hold their defaults."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        status_path: Path,
        backoff: float,
        max_backoff: float,
        stable: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.command = list(command)
        self.status_path = status_path
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.stable = stable
        self.monotonic = monotonic
        self.restarts = 0
        self.last_exit: int | None = None
        self.last_exit_at: str | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._parent = os.getppid()
        self._status: dict[str, Any] = {}
        self._written = 0.0

    def run(self, stop: threading.Event) -> int:
        """Supervise until ``stop`` is set or the parent process dies; the child is
        stopped (SIGTERM, then SIGKILL after 30 s) before returning 0."""
        delay = self.backoff
        try:
            while not stop.is_set() and self._parent_alive():
                started = self.monotonic()
                self.process = subprocess.Popen(  # noqa: S603 (our own argv)
                    self.command, preexec_fn=dies_with_parent())
                self._write("running", pid=self.process.pid)
                code = self._wait(stop)
                if code is None:
                    break  # told to stop, or the parent is gone
                if self.monotonic() - started >= self.stable:
                    delay = self.backoff
                self.restarts += 1
                self.last_exit = code
                self.last_exit_at = datetime.now(UTC).isoformat(timespec="seconds")
                log.error("tracking process (pid %d) died, %s; restarting it in %g s "
                          "(restart %d)", self.process.pid, exit_text(code), delay,
                          self.restarts)
                self._write("restarting", restart_at=time.time() + delay)
                forget_process(self.process.pid)  # its live gauges went with it
                self._pause(stop, delay)
                delay = min(delay * 2, self.max_backoff)
        finally:
            self._stop_child()
            self._write("stopped")
        return 0

    def _wait(self, stop: threading.Event) -> int | None:
        assert self.process is not None
        while True:
            code = self.process.poll()
            if code is not None:
                return code
            if stop.wait(CHECK_SECONDS) or not self._parent_alive():
                return None
            self._beat()

    def _pause(self, stop: threading.Event, seconds: float) -> None:
        """Wait ``seconds`` (or until told to stop), still beating."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            if stop.wait(min(left, HEARTBEAT_SECONDS)):
                return
            self._beat()

    def _parent_alive(self) -> bool:
        return os.getppid() == self._parent

    def _stop_child(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()  # SIGTERM: the loop finishes its cycle and stops
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        forget_process(process.pid)

    def _write(self, state: str, **extra: Any) -> None:
        self._status = dict(state=state, supervisor_pid=os.getpid(), restarts=self.restarts,
                            last_exit_code=self.last_exit, last_exit_at=self.last_exit_at,
                            **extra)
        write_status(self.status_path, **self._status)
        self._written = time.monotonic()

    def _beat(self) -> None:
        """The last status again, with a fresh heartbeat, once a second."""
        if time.monotonic() - self._written >= HEARTBEAT_SECONDS:
            write_status(self.status_path, **self._status)
            self._written = time.monotonic()


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def tracking_health(status_path: Path) -> tuple[bool, dict[str, Any]]:
    """Whether the supervised tracking process runs, and what ``/healthz`` says of it."""
    try:
        status = json.loads(status_path.read_text())
    except FileNotFoundError:
        return False, {"status": "not running", "reason": "the tracking process has not "
                                                          "started yet"}
    except (OSError, ValueError) as e:
        return False, {"status": "unknown", "reason": f"tracking status unreadable: {e}"}
    restarts = status.get("restarts", 0)
    state = status.get("state")
    if state == SUPERVISOR_DIED:
        return False, {"status": "restarting", "restarts": restarts,
                       "reason": f"the tracking supervisor died ({_exit_of(status)}); "
                                 f"restarting it in {_until(status):.0f} s"}
    if state == "stopped" or (state != "starting" and not _alive(status.get("supervisor_pid"))):
        return False, {"status": "not running", "restarts": restarts,
                       "reason": "the tracking supervisor is not running"}
    age = time.time() - float(status.get("heartbeat") or 0)
    if age > STALE_SECONDS:
        what = "has not started" if state == "starting" else "has not reported"
        return False, {"status": "not running", "restarts": restarts,
                       "reason": f"the tracking supervisor {what} for {age:.0f} s"}
    if state == "starting":
        return True, {"status": "starting", "restarts": restarts}
    if state != "running":
        return False, {"status": "restarting", "restarts": restarts,
                       "reason": f"the tracking process died ({_exit_of(status)}); "
                                 f"restarting it in {_until(status):.0f} s"}
    if not _alive(status.get("pid")):
        return False, {"status": "not running", "restarts": restarts,
                       "reason": "the tracking process has just exited"}
    return True, {"status": "running", "pid": status["pid"], "restarts": restarts}


def _exit_of(status: dict[str, Any]) -> str:
    code = status.get("last_exit_code")
    return exit_text(code) if isinstance(code, int) else "it exited"


def _until(status: dict[str, Any]) -> float:
    return max(0.0, float(status.get("restart_at") or 0) - time.time())
