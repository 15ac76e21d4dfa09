"""``videojobs-bot simulator`` runs ``bot.simulator.run``: one line saying where it is
and which credentials it takes, then it serves seeded jobs until stopped."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

LINE = re.compile(
    r"MetaStudio simulator on (?P<url>http://\S+) project_id=(?P<project>\S+) "
    r"token=(?P<token>\S+) ak=\S+ sk=\S+"
)


@pytest.fixture
def banner() -> Iterator[re.Match[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", "from bot.simulator import run; run(0, seed_jobs=25)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        match = LINE.match(line)
        assert match, line
        yield match
    finally:
        process.terminate()
        process.wait(timeout=5)


def test_serves_seeded_jobs_with_the_printed_credentials(banner):
    url = f"{banner['url']}/v1/{banner['project']}/digital-human-videos"

    answer = requests.get(url, headers={"X-Auth-Token": banner["token"]}, timeout=5)
    refused = requests.get(url, headers={"X-Auth-Token": "not-it"}, timeout=5)

    assert answer.json()["count"] == 25
    assert refused.status_code == 401
