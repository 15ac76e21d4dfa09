"""``get_job`` checks the row it got back: a deployment that ignores the ``job_id`` filter
(as older ones ignore ``job_ids``; docs/metastudio-api.md, "job_ids") answers the first
job of an unfiltered page, and that must not become another job's card."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests

from bot.metastudio.auth import TokenAuth
from bot.metastudio.client import MetaStudioClient
from bot.simulator import Simulator
from tests.fixtures.metastudio import FAST_RETRY, FAST_TIMEOUTS, PROJECT_ID, TOKEN


@pytest.fixture
def ignoring_job_id(simulator: Simulator) -> Iterator[str]:
    """A gateway in front of the simulator that drops ``job_id`` from list requests: the
    simulator's real, unfiltered page comes back. Its base URL."""

    class DropJobId(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = [(k, v) for k, v in parse_qsl(url.query, keep_blank_values=True)
                     if k != "job_id"]
            upstream = requests.get(
                f"{simulator.url}{url.path}?{urlencode(query)}",
                headers={"X-Auth-Token": self.headers["X-Auth-Token"]}, timeout=5,
            )
            self.send_response(upstream.status_code)
            for name in ("Content-Type", "X-Request-Id"):
                if name in upstream.headers:
                    self.send_header(name, upstream.headers[name])
            self.send_header("Content-Length", str(len(upstream.content)))
            self.end_headers()
            self.wfile.write(upstream.content)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), DropJobId)
    server.daemon_threads = True
    Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def client(ignoring_job_id: str) -> Iterator[MetaStudioClient]:
    client = MetaStudioClient(ignoring_job_id, PROJECT_ID, TokenAuth(TOKEN),
                              retry=FAST_RETRY, timeouts=FAST_TIMEOUTS)
    yield client
    client.close()


def test_an_unfiltered_answer_does_not_become_another_jobs_card(
    simulator: Simulator, client: MetaStudioClient
) -> None:
    simulator.add_job(state="FAILED", asset_name="someone else's video")
    simulator.add_job(state="SUCCEED", asset_name="another one")

    assert client.get_job("not-one-of-them") is None
    # The filter really was dropped: the simulator answered the unfiltered list.
    assert all("job_id" not in dict(r.params) for r in simulator.requests)


def test_the_asked_job_is_kept_when_it_is_the_row_that_came_back(
    simulator: Simulator, client: MetaStudioClient
) -> None:
    # The list's default order is oldest first.
    wanted = simulator.add_job(state="SUCCEED", asset_name="mine, listed first")
    simulator.add_job(state="FAILED", asset_name="newer")

    job = client.get_job(wanted)
    assert job is not None and job.job_id == wanted and job.asset_name == "mine, listed first"
