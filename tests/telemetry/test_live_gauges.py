"""A process that dies takes its gauges off ``/metrics`` (prometheus_client's multiprocess
mode, https://prometheus.github.io/client_python/multiprocess/): each gauge combines
its processes' values in a ``live*`` mode, and whoever waited for a dead child marks it
dead (the tracking supervisor, gunicorn's master, a web worker for its answering child).

Real processes throughout: ``videojobs-bot http`` with its supervised tracking process,
and the answering child, each killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from bot.serve import web
from bot.serve.answer_process import AnswerProcess
from bot.settings import Settings
from bot.simulator import Simulator
from tests.fakes.slack import FakeSlack
from tests.serve.test_answer_process import START_SECONDS, answers, work
from tests.tracking.processes import Deployment, HttpBot, wait

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

LINUX = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")


def samples(bot: HttpBot, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample of the gauge ``name`` on ``/metrics``, with its labels."""
    text = requests.get(f"{bot.url}/metrics", timeout=5).text
    return [(s.labels, s.value) for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == name]


def live_files(directory: Path, pid: int) -> list[str]:
    """The ``live*`` gauge files ``pid`` wrote (gauge_livemax_<pid>.db, …)."""
    return sorted(p.name for p in directory.glob(f"gauge_live*_{pid}.db"))


@pytest.fixture
def deploy(simulator: Simulator, fake_slack: FakeSlack, tmp_path: Path) -> Iterator[Deployment]:
    # A killed tracking process is not restarted during the test: nobody else sets
    # the gauge again, so what /metrics shows is what the dead process left.
    deployment = Deployment(simulator, fake_slack, f"sqlite:///{tmp_path / 'db.sqlite3'}",
                            tmp_path, tracking_restart_seconds=600)
    yield deployment
    deployment.close()
    for bot in deployment.bots:
        print(f"----- {' '.join(bot.args)} -----\n{bot.output}")


@LINUX
def test_a_tracking_process_killed_while_paused_leaves_no_paused_gauge(
    deploy: Deployment, tmp_path: Path
) -> None:
    metrics_dir = tmp_path / "metrics"
    bot = deploy.http(PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    pid = bot.tracking_pid()
    ids = deploy.track("C1", 2)
    deploy.slack.token_error = "token_revoked"  # Slack refuses the token: delivery pauses
    deploy.end(ids, "FAILED")
    assert wait(lambda: any(v == 1 for _, v in samples(bot, "videojobs_delivery_paused")),
                30), (samples(bot, "videojobs_delivery_paused"), bot.output)
    assert live_files(metrics_dir, pid)

    os.kill(pid, signal.SIGKILL)

    assert wait(lambda: bot.health()[1]["tracking"]["status"] == "restarting", 10)
    # One series (no pid label): 0, now that no running process sees the pause.
    assert wait(lambda: samples(bot, "videojobs_delivery_paused") == [({}, 0.0)], 5), (
        samples(bot, "videojobs_delivery_paused"))
    assert not live_files(metrics_dir, pid)
    # The depth it last read went with it; the web worker never read one.
    assert samples(bot, "videojobs_outbox_depth") == []


def test_gunicorns_child_exit_hook_marks_a_killed_worker_dead(tmp_path: Path) -> None:
    """A web worker sets no gauge today, so the hook is driven here with a real child
    that does, as gunicorn's master calls it once it has reaped a worker."""
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-c", "from bot.telemetry.metrics import DELIVERY_PAUSED; "
         "DELIVERY_PAUSED.set(1); print('set', flush=True); import time; time.sleep(60)"],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)},
        stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "set\n"
    assert collected(metrics_dir, "videojobs_delivery_paused") == [({}, 1.0)]
    child.kill()
    child.wait()
    assert collected(metrics_dir, "videojobs_delivery_paused") == [({}, 1.0)]  # dead, shown

    with pytest.MonkeyPatch.context() as env:
        env.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
        options = _gunicorn_options()
        options["child_exit"](None, SimpleNamespace(pid=child.pid))

    assert collected(metrics_dir, "videojobs_delivery_paused") == []
    assert not live_files(metrics_dir, child.pid)


def collected(directory: Path, name: str) -> list[tuple[dict[str, str], float]]:
    """What ``/metrics`` would serve from ``directory`` for the gauge ``name``."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    return [(s.labels, s.value) for family in registry.collect()
            for s in family.samples if s.name == name]


def _gunicorn_options() -> dict[str, Any]:
    """The options ``videojobs-bot http`` gives gunicorn (its hooks among them)."""
    captured: dict[str, Any] = {}

    class Captured:
        def __init__(self, settings: Settings, options: dict[str, Any], *rest: Any) -> None:
            captured.update(options)

        def run(self) -> None:
            pass

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(web, "_Gunicorn", Captured)
        web.serve(Settings(), workers=1, threads=1, tracking=False)
    return captured


def test_a_killed_answering_child_is_marked_dead_by_its_worker(
    bot_settings: Settings, fake_slack: FakeSlack, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))  # the child inherits it
    process = AnswerProcess(bot_settings, threads=1)
    try:
        assert process.submit(work(fake_slack, "warm"))
        assert fake_slack.wait_for(lambda f: answers(f, "warm"), timeout=START_SECONDS)
        first = process.pid
        assert first is not None and live_files(metrics_dir, first)

        os.kill(first, signal.SIGKILL)

        assert wait(lambda: process.pid != first, 15)
        assert wait(lambda: not live_files(metrics_dir, first), 5)
    finally:
        process.close(timeout=10)
