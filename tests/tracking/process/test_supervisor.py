"""The tracking supervisor: a child that dies is restarted with backoff and each death
logged with its exit code; what /healthz reads from its status file."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from pytest_mock import MockerFixture

from bot.tracking.process.supervisor import (
    HEARTBEAT_SECONDS,
    SUPERVISOR_DIED,
    Supervisor,
    exit_text,
    tracking_health,
)


def test_a_dying_child_is_restarted_with_growing_waits_and_each_death_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    status = tmp_path / "tracking.json"
    supervisor = Supervisor([sys.executable, "-c", "import sys; sys.exit(3)"],
                            status_path=status, backoff=0.05, max_backoff=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=supervisor.run, args=(stop,))
    with caplog.at_level(logging.ERROR, "bot.tracking.process.supervisor"):
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
    path.write_text(json.dumps({"supervisor_pid": os.getpid(), "restarts": 2,
                                "heartbeat": time.time(), **values}))
    return path


def _written(path: Path) -> dict[str, object]:
    """The status file without its heartbeat (checked on its own: a recent time)."""
    status = json.loads(path.read_text())
    assert abs(status.pop("heartbeat") - time.time()) < 5
    return status


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


def _run_in_thread(supervisor: Supervisor, stop: threading.Event,
                   returned: list[int] | None = None) -> threading.Thread:
    """``supervisor.run(stop)`` in a thread; its return value goes into ``returned``."""
    thread = threading.Thread(target=lambda: (returned if returned is not None else [])
                              .append(supervisor.run(stop)))
    thread.start()
    return thread


def _sleeper(status: Path) -> Supervisor:
    """A supervisor of a child that runs until it is stopped."""
    return Supervisor([sys.executable, "-c", "import time; time.sleep(60)"],
                      status_path=status, backoff=0.05, max_backoff=0.4)


def _until(predicate: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)  # a real child process: no event to wait on
    return predicate()


def test_a_child_that_ran_a_minute_is_restarted_after_the_first_wait_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Each child's start and end, as the supervisor's clock reads them: the third child
    # ran exactly the stable minute, the fourth just under it.
    readings = iter([0, 1, 10, 11, 100, 160, 200, 259.9])
    supervisor = Supervisor([sys.executable, "-c", "import sys; sys.exit(1)"],
                            status_path=tmp_path / "tracking.json", backoff=0.05,
                            max_backoff=0.4, monotonic=lambda: next(readings, 1000.0))
    stop = threading.Event()
    with caplog.at_level(logging.ERROR, "bot.tracking.process.supervisor"):
        thread = _run_in_thread(supervisor, stop)
        assert _until(lambda: supervisor.restarts >= 4)
        stop.set()
        thread.join(30)
    waits = [r.getMessage().split("restarting it in ")[1] for r in caplog.records]
    assert waits[:4] == ["0.05 s (restart 1)", "0.1 s (restart 2)", "0.05 s (restart 3)",
                         "0.1 s (restart 4)"]


def test_the_status_file_names_the_running_child_then_its_death_then_the_stop(
    tmp_path: Path,
) -> None:
    status = tmp_path / "tracking.json"
    marker = tmp_path / "second"
    # The first child exits 7 at once; the second one runs until it is stopped.
    script = (f"import os, sys, time\nif not os.path.exists({str(marker)!r}):\n"
              f"    open({str(marker)!r}, 'w').close(); sys.exit(7)\ntime.sleep(60)\n")
    supervisor = Supervisor([sys.executable, "-c", script], status_path=status,
                            backoff=0.05, max_backoff=0.4)
    stop = threading.Event()
    thread = _run_in_thread(supervisor, stop)
    try:
        # The file, not the counter: the first child's "running" can still be there
        # for a moment after the counter moved.
        assert _until(lambda: status.exists() and json.loads(status.read_text())
                      .items() >= {"state": "running", "restarts": 1}.items())
        running = _written(status)
        assert supervisor.process is not None
        child = supervisor.process
        assert running == {"state": "running", "pid": child.pid,
                           "supervisor_pid": os.getpid(), "restarts": 1,
                           "last_exit_code": 7, "last_exit_at": supervisor.last_exit_at}
        assert datetime.fromisoformat(running["last_exit_at"]).tzinfo is not None
        assert tracking_health(status) == (True, {"status": "running", "pid": child.pid,
                                                  "restarts": 1})
    finally:
        stop.set()
        thread.join(30)
    assert child.returncode == -signal.SIGTERM  # stopped, not killed
    stopped = json.loads(status.read_text())
    assert stopped["state"] == "stopped" and stopped["restarts"] == 1
    assert not list(tmp_path.glob("*.tmp"))  # written whole, then renamed


def test_a_fresh_supervisor_writes_no_exit_before_its_first_child_ends(tmp_path: Path) -> None:
    status = tmp_path / "tracking.json"
    supervisor = _sleeper(status)
    stop = threading.Event()
    thread = _run_in_thread(supervisor, stop)
    try:
        assert _until(lambda: status.exists())
        assert supervisor.process is not None
        assert _written(status) == {
            "state": "running", "pid": supervisor.process.pid,
            "supervisor_pid": os.getpid(), "restarts": 0, "last_exit_code": None,
            "last_exit_at": None}
    finally:
        stop.set()
        thread.join(30)


def test_a_supervisor_told_to_stop_before_it_runs_starts_no_child(tmp_path: Path) -> None:
    status = tmp_path / "tracking.json"
    supervisor = _sleeper(status)
    stop = threading.Event()
    stop.set()
    assert supervisor.run(stop) == 0
    assert supervisor.process is None
    assert json.loads(status.read_text())["state"] == "stopped"


def test_the_supervisor_stops_its_child_when_its_own_parent_is_gone(tmp_path: Path) -> None:
    status = tmp_path / "tracking.json"
    supervisor = _sleeper(status)
    stop = threading.Event()
    thread = _run_in_thread(supervisor, stop)
    try:
        assert _until(lambda: supervisor.process is not None and status.exists())
        assert supervisor.process is not None
        child = supervisor.process
        # What the supervisor sees once gunicorn's master dies: another parent pid.
        supervisor._parent = os.getppid() + 1
        thread.join(30)
        assert not thread.is_alive() and not stop.is_set()
    finally:
        stop.set()
        thread.join(30)
    assert child.returncode == -signal.SIGTERM
    assert supervisor.restarts == 0
    assert json.loads(status.read_text())["state"] == "stopped"


def test_a_child_that_ignores_sigterm_is_killed(tmp_path: Path,
                                                mocker: MockerFixture) -> None:
    supervisor = Supervisor(
        [sys.executable, "-c",
         "import signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
         "print('ready', flush=True)\ntime.sleep(60)\n"],
        status_path=tmp_path / "tracking.json", backoff=0.05, max_backoff=0.4)
    supervisor.process = subprocess.Popen(supervisor.command, stdout=subprocess.PIPE)
    assert supervisor.process.stdout is not None
    assert supervisor.process.stdout.readline() == b"ready\n"  # SIGTERM is ignored now
    waits: list[float | None] = []
    real_wait = subprocess.Popen.wait

    def short_wait(process: subprocess.Popen[bytes], timeout: float | None = None) -> int:
        waits.append(timeout)
        return real_wait(process, timeout=None if timeout is None else 0.3)

    mocker.patch.object(subprocess.Popen, "wait", autospec=True, side_effect=short_wait)
    supervisor._stop_child()
    assert supervisor.process.returncode == -signal.SIGKILL
    assert waits == [30, None]  # 30 s for SIGTERM, then SIGKILL and a wait without limit
    supervisor.process.stdout.close()


@pytest.mark.parametrize(("code", "text"), [
    (0, "exit code 0"), (3, "exit code 3"), (-9, "killed by SIGKILL"),
    (-15, "killed by SIGTERM"), (-200, "killed by signal 200"),
])
def test_exit_text_names_the_code_or_the_signal(code: int, text: str) -> None:
    assert exit_text(code) == text


GONE = 2**22 + 12345  # above Linux's largest pid: no such process


@pytest.mark.parametrize(("status", "health"), [
    ({"state": "stopped"}, (False, {
        "status": "not running", "restarts": 2,
        "reason": "the tracking supervisor is not running"})),
    ({"state": "running", "pid": os.getpid(), "supervisor_pid": GONE}, (False, {
        "status": "not running", "restarts": 2,
        "reason": "the tracking supervisor is not running"})),
    ({"state": "running", "pid": os.getpid(), "supervisor_pid": "me"}, (False, {
        "status": "not running", "restarts": 2,
        "reason": "the tracking supervisor is not running"})),
    ({"state": "running", "pid": os.getpid(), "supervisor_pid": 0}, (False, {
        "status": "not running", "restarts": 2,
        "reason": "the tracking supervisor is not running"})),
    ({"state": "starting"}, (True, {"status": "starting", "restarts": 2})),
    ({"state": "restarting", "last_exit_code": None}, (False, {
        "status": "restarting", "restarts": 2,
        "reason": "the tracking process died (it exited); restarting it in 0 s"})),
    ({"state": "restarting", "last_exit_code": 3, "restart_at": None}, (False, {
        "status": "restarting", "restarts": 2,
        "reason": "the tracking process died (exit code 3); restarting it in 0 s"})),
    ({"state": "running", "pid": GONE}, (False, {
        "status": "not running", "restarts": 2,
        "reason": "the tracking process has just exited"})),
    ({"state": "running", "pid": os.getpid()}, (True, {
        "status": "running", "pid": os.getpid(), "restarts": 2})),
    ({"state": "running", "pid": os.getpid(), "supervisor_pid": 1}, (True, {
        "status": "running", "pid": os.getpid(), "restarts": 2})),
])
def test_health_for_each_state_word_for_word(tmp_path: Path, status: dict[str, object],
                                             health: tuple[bool, dict[str, object]]) -> None:
    assert tracking_health(_status(tmp_path / "tracking.json", **status)) == health


@pytest.mark.parametrize(("status", "ago", "health"), [
    # A supervisor that stopped writing (stuck, or its pid taken by another process).
    ({"state": "running", "pid": os.getpid()}, 60, (False, {
        "status": "not running", "restarts": 2,
        "reason": "the tracking supervisor has not reported for 60 s"})),
    ({"state": "restarting"}, 11, (False, {
        "status": "not running", "restarts": 2,
        "reason": "the tracking supervisor has not reported for 11 s"})),
    ({"state": "starting", "supervisor_pid": None}, 30, (False, {
        "status": "not running", "restarts": 2,
        "reason": "the tracking supervisor has not started for 30 s"})),
    ({"state": "starting", "supervisor_pid": None}, 9, (True, {
        "status": "starting", "restarts": 2})),
])
def test_health_by_the_age_of_the_last_status(tmp_path: Path, status: dict[str, object],
                                              ago: float,
                                              health: tuple[bool, dict[str, object]]) -> None:
    written = _status(tmp_path / "tracking.json", **status, heartbeat=time.time() - ago - 0.2)
    assert tracking_health(written) == health


def test_health_while_gunicorns_master_waits_to_restart_a_dead_supervisor(
        tmp_path: Path) -> None:
    # Written by the master once it found the supervisor dead (bot/serve/web.py).
    written = _status(tmp_path / "tracking.json", state=SUPERVISOR_DIED, supervisor_pid=GONE,
                      last_exit_code=-9, restart_at=time.time() + 4.4,
                      heartbeat=time.time() - 60)  # no one beats meanwhile: still said
    assert tracking_health(written) == (False, {
        "status": "restarting", "restarts": 2,
        "reason": "the tracking supervisor died (killed by SIGKILL); restarting it in 4 s"})


def test_health_counts_no_restarts_when_the_file_names_none(tmp_path: Path) -> None:
    path = tmp_path / "tracking.json"
    path.write_text(json.dumps({"supervisor_pid": os.getpid(), "state": "starting",
                                "heartbeat": time.time()}))
    assert tracking_health(path) == (True, {"status": "starting", "restarts": 0})


def test_health_counts_the_wait_before_a_restart_down(tmp_path: Path) -> None:
    path = _status(tmp_path / "tracking.json", state="restarting", last_exit_code=-9,
                   restart_at=time.time() + 90.4)
    ok, health = tracking_health(path)
    assert not ok and health["reason"] == (
        "the tracking process died (killed by SIGKILL); restarting it in 90 s")


@pytest.mark.parametrize("text", ["{not json", ""])
def test_an_unreadable_status_file_is_not_healthy(tmp_path: Path, text: str) -> None:
    path = tmp_path / "tracking.json"
    path.write_text(text)
    ok, health = tracking_health(path)
    assert ok is False and set(health) == {"status", "reason"}
    assert health["status"] == "unknown"
    assert health["reason"].startswith("tracking status unreadable: ")


def test_a_status_path_that_is_a_directory_is_not_healthy(tmp_path: Path) -> None:
    ok, health = tracking_health(tmp_path)
    assert ok is False and health["status"] == "unknown"
    assert "Is a directory" in health["reason"]


def test_between_restarts_the_status_says_when_the_next_child_starts(tmp_path: Path) -> None:
    status = tmp_path / "tracking.json"
    supervisor = Supervisor([sys.executable, "-c", "import sys; sys.exit(3)"],
                            status_path=status, backoff=20, max_backoff=40)
    stop = threading.Event()
    returned: list[int] = []
    thread = _run_in_thread(supervisor, stop, returned)
    try:
        assert _until(lambda: supervisor.restarts == 1)
        assert _until(lambda: json.loads(status.read_text())["state"] == "restarting")
        written = json.loads(status.read_text())
        assert time.time() + 15 < written["restart_at"] <= time.time() + 20
        assert written["last_exit_code"] == 3
        ok, health = tracking_health(status)
        assert not ok and health["status"] == "restarting"
    finally:
        stop.set()  # wakes the wait at once
        thread.join(30)
    assert returned == [0]


def test_a_supervisor_stopped_while_its_child_runs_returns_0(tmp_path: Path) -> None:
    supervisor = _sleeper(tmp_path / "tracking.json")
    stop = threading.Event()
    returned: list[int] = []
    thread = _run_in_thread(supervisor, stop, returned)
    assert _until(lambda: supervisor.process is not None)
    stop.set()
    thread.join(30)
    assert returned == [0]


def test_a_process_of_another_user_counts_as_alive(tmp_path: Path,
                                                   mocker: MockerFixture) -> None:
    def refused(pid: int, signum: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    mocker.patch.object(os, "kill", side_effect=refused)
    assert tracking_health(_status(tmp_path / "tracking.json", state="running", pid=1,
                                   supervisor_pid=1)) == (
        True, {"status": "running", "pid": 1, "restarts": 2})


def test_the_status_is_rewritten_every_second_while_nothing_happens(tmp_path: Path) -> None:
    status = tmp_path / "tracking.json"
    supervisor = _sleeper(status)
    stop = threading.Event()
    thread = _run_in_thread(supervisor, stop)
    try:
        assert _until(lambda: status.exists())
        first = json.loads(status.read_text())
        assert _until(lambda: json.loads(status.read_text())["heartbeat"]
                      >= first["heartbeat"] + HEARTBEAT_SECONDS, timeout=10)
        again = json.loads(status.read_text())
        assert {**again, "heartbeat": 0} == {**first, "heartbeat": 0}  # only the beat moved
    finally:
        stop.set()
        thread.join(30)


def _alive_not_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_supervisor_killed_with_sigkill_takes_its_child_with_it(tmp_path: Path) -> None:
    """The supervisor cannot stop its child when it is killed; the kernel does (SIGTERM,
    which the tracking loop answers by finishing its cycle)."""
    script = (
        "import sys, threading\n"
        "from pathlib import Path\n"
        "from bot.tracking.process.supervisor import Supervisor\n"
        f"s = Supervisor([sys.executable, '-c', 'import time; time.sleep(120)'], "
        f"status_path=Path({str(tmp_path / 'tracking.json')!r}), backoff=1, max_backoff=1)\n"
        "s.run(threading.Event())\n")
    supervisor = subprocess.Popen([sys.executable, "-c", script])
    try:
        assert _until(lambda: (tmp_path / "tracking.json").exists()
                      and "pid" in json.loads((tmp_path / "tracking.json").read_text()))
        child = json.loads((tmp_path / "tracking.json").read_text())["pid"]
        assert _alive_not_zombie(child)

        supervisor.kill()
        supervisor.wait()

        assert _until(lambda: not _alive_not_zombie(child), timeout=10), "the child lives on"
    finally:
        supervisor.kill()
