"""The tracking supervisor: a child that dies is restarted with backoff and each death
logged with its exit code; what /healthz reads from its status file."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.tracking.supervisor import Supervisor, tracking_health


def test_a_dying_child_is_restarted_with_growing_waits_and_each_death_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    status = tmp_path / "tracking.json"
    supervisor = Supervisor([sys.executable, "-c", "import sys; sys.exit(3)"],
                            status_path=status, backoff=0.05, max_backoff=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=supervisor.run, args=(stop,))
    with caplog.at_level(logging.ERROR, "bot.tracking.supervisor"):
        thread.start()
        deadline = time.monotonic() + 30
        while supervisor.restarts < 4 and time.monotonic() < deadline:
            time.sleep(0.05)  # a real child process: no event to wait on
        stop.set()
        thread.join(30)
    assert supervisor.restarts >= 4
    deaths = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(deaths) >= 4 and all("exit code 3" in d for d in deaths)
    waits = [float(d.split("restarting it in ")[1].split(" s")[0]) for d in deaths]
    assert waits[:4] == [0.05, 0.1, 0.2, 0.2]  # doubling, capped
    assert json.loads(status.read_text())["state"] == "stopped"
    assert tracking_health(status)[0] is False


def _status(path: Path, **values: object) -> Path:
    path.write_text(json.dumps({"supervisor_pid": os.getpid(), "restarts": 2, **values}))
    return path


def test_health_says_why_tracking_is_not_running(tmp_path: Path) -> None:
    path = tmp_path / "tracking.json"
    assert tracking_health(path) == (False, {
        "status": "not running", "reason": "the tracking process has not started yet"})
    ok, health = tracking_health(_status(path, state="restarting", last_exit_code=-9,
                                         restart_at=time.time() + 30))
    assert not ok and health["status"] == "restarting"
    assert "killed by SIGKILL" in health["reason"] and "30 s" in health["reason"]
    ok, health = tracking_health(_status(path, state="running", pid=os.getpid()))
    assert ok and health == {"status": "running", "pid": os.getpid(), "restarts": 2}
    ok, health = tracking_health(_status(path, state="running", pid=2**22 + 12345))
    assert not ok and "exited" in health["reason"]
    ok, health = tracking_health(_status(path, state="running", pid=os.getpid(),
                                         supervisor_pid=2**22 + 12345))
    assert not ok and "supervisor" in health["reason"]
