"""Every metric the README names can be scraped from ``videojobs-bot http``: gunicorn
workers and the tracking child record into one multiprocess directory, and ``/metrics``
serves them all (one test per metric, each finding a sample)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from bot.simulator import SimClock, Simulator
from tests.fakes.slack import FakeSlack
from tests.fixtures.app import SIGNING_SECRET, SlackSender, bot_env
from tests.fixtures.metastudio import AK, PROJECT_ID, SK
from tests.fixtures.simulator import SIM_AK, SIM_PROJECT, SIM_SK, SIM_TOKEN
from tests.serve.test_web import free_port, wait_until_up

README = Path(__file__).parents[2] / "README.md"


def readme_metrics() -> list[str]:
    section = README.read_text().split("**Health and metrics**", 1)[1].split("\n\n", 1)[0]
    return sorted(set(re.findall(r"`(videojobs_[a-z_]+)`", section)))


@pytest.fixture(scope="module")
def scraped(tmp_path_factory) -> Iterator[dict[str, list[str]]]:
    """Metric family name -> recorded sample names, after a command, a tracked job finishing and
    its notification."""
    assert (SIM_PROJECT, SIM_AK, SIM_SK) == (PROJECT_ID, AK, SK)
    sim = Simulator(SIM_PROJECT, ak=SIM_AK, sk=SIM_SK, token=SIM_TOKEN,
                    clock=SimClock.frozen(datetime.now(UTC).replace(microsecond=0)))
    handle = sim.serve()
    fake = FakeSlack().start()
    tmp = tmp_path_factory.mktemp("metrics")
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("videojobs-bot")), "http"], cwd=tmp,
        env=bot_env(PORT=str(port), WEB_CONCURRENCY="2", SLACK_BOT_TOKEN=fake.token,
                    SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=fake.url,
                    METASTUDIO_ENDPOINT=sim.url, METASTUDIO_PROJECT_ID=PROJECT_ID,
                    METASTUDIO_AK=AK, METASTUDIO_SK=SK, POLL_INTERVAL_SECONDS="0.2",
                    DATABASE_URL=f"sqlite:///{tmp}/db.sqlite3"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/healthz", server)
        slack = SlackSender(url, fake)
        job_id = sim.add_job(state="PROCESSING")
        slack.command(f"status {job_id}")
        slack.command(f"status {job_id}", response="r2")  # a cache hit
        slack.command(f"track {job_id}", response="r3")
        assert fake.wait_for(lambda f: f.messages, timeout=15)
        sim.set_state(job_id, "SUCCEED")
        assert fake.wait_for(lambda f: any(m.thread_ts for m in f.messages), timeout=20)
        families: dict[str, list[str]] = {}
        for _ in range(50):
            text = requests.get(f"{url}/metrics", timeout=5).text
            families = {f.name: _recorded(f) for f in text_string_to_metric_families(text)}
            if all(families.get(_family(name)) for name in readme_metrics()):
                break
            fake.wait_for(lambda f: False, timeout=0.2)
        yield families
    finally:
        server.terminate()
        server.wait(timeout=60)
        fake.stop()
        handle.stop()


def _recorded(family) -> list[str]:
    """Samples that show something was recorded: a gauge's value, a counter above zero,
    a histogram that observed something (an unused one still shows zero buckets)."""
    if family.type == "gauge":
        return [s.name for s in family.samples]
    return [s.name for s in family.samples
            if s.value > 0 and not s.name.endswith(("_bucket", "_created"))]


def _family(name: str) -> str:
    return name.removesuffix("_total")  # the parser names counters without it


def test_the_readme_names_metrics() -> None:
    assert len(readme_metrics()) >= 8


@pytest.mark.parametrize("name", readme_metrics())
def test_every_readme_metric_is_scraped_with_a_sample(scraped, name) -> None:
    assert scraped.get(_family(name)), f"{name} has no sample; scraped {sorted(scraped)}"
