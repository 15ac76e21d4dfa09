"""A realistic project, the per-type detail operations and the job callbacks."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from bot.simulator.project import project_jobs
from bot.simulator.seed import seed_jobs

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DETAIL_2D = "/v1/proj-1/2d-digital-human-videos/"
DETAIL_PHOTO = "/v1/proj-1/photo-digital-human-videos/"


def test_a_project_spreads_creation_over_the_month_and_never_starts_a_job_early() -> None:
    jobs = project_jobs(3_000, NOW, random.Random(1), per_hour=1_000,
                        ahead=timedelta(hours=1))
    past = [j for j in jobs if j.create_time <= NOW]
    assert len(past) == 3_000 and len(jobs) - len(past) == 1_000
    assert min(j.create_time for j in past) < NOW - timedelta(days=29)
    assert len({j.create_time for j in past}) > 2_900  # not one creation time for all
    assert all(j.start_at >= j.create_time and j.end_at >= j.start_at for j in jobs)
    runs = sorted((j.end_at - j.start_at).total_seconds() for j in jobs)
    assert runs[0] < 120 and runs[-1] > 4 * 3_600  # minutes to days
    failures = [j for j in jobs if j.outcome == "FAILED"]
    assert failures and all(j.error_code and j.error_code.startswith("MSS.") for j in failures)


def test_seeded_jobs_never_start_before_they_were_created() -> None:
    jobs = seed_jobs(2_000, NOW, random.Random(2))
    assert all(j.start_at >= j.create_time for j in jobs)


def test_future_jobs_appear_when_the_clock_reaches_them(serve_simulator, sim_clock) -> None:
    api = serve_simulator(token="TOKEN-TEST", project_jobs=50, new_per_hour=60,
                          ahead=timedelta(hours=1))
    assert api.list({"limit": "1"}).json()["count"] == 50
    sim_clock.advance(30 * 60)
    count = api.list({"limit": "1"}).json()["count"]
    assert 70 <= count <= 81


@pytest.mark.parametrize("photo", [False, True])
def test_the_detail_operations_answer_for_their_own_type(simulator, sim_api, photo) -> None:
    kind = "PHOTO_DIGITAL_HUMAN_VIDEO" if photo else "2D_DIGITAL_HUMAN_VIDEO"
    job_id = simulator.add_job(job_type=kind, script_id="script-9", state="FAILED")
    right, wrong = (DETAIL_PHOTO, DETAIL_2D) if photo else (DETAIL_2D, DETAIL_PHOTO)

    answer = sim_api.list(path=right + job_id)
    assert answer.status_code == 200
    body = answer.json()
    assert body["job_id"] == job_id and body["script_id"] == "script-9"
    assert body["error_info"]["error_code"] == "MSS.00000004"
    assert {"shoot_scripts", "voice_config", "video_config"} <= set(body)
    # API notes, section 2: the model is a 2D field, the photo a photo one; the photo
    # detail has no background music although the create call takes it.
    assert ("model_asset_id" in body) is not photo and ("human_image" in body) is photo
    assert ("background_music_config" in body) is not photo
    assert sim_api.list(path=wrong + job_id).status_code == 404
    assert sim_api.list(path=right + "no-such-job").json()["error_code"] == "MSS.00000002"
    assert sim_api.list(path=right + job_id, token=None).status_code == 401


class _Receiver:
    """A loopback endpoint recording what it is POSTed."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.calls.append((self.path, json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook?team=a"


def test_callbacks_are_signed_like_mss_a_and_sent_once_per_reported_end(simulator) -> None:
    receiver = _Receiver()
    ok = simulator.add_job(finish_in=60, callback_url=receiver.url, callback_key="k1")
    failed = simulator.add_job(callback_url=receiver.url, callback_key="k1")
    canceled = simulator.add_job(callback_url=receiver.url, callback_key="k1")
    simulator.add_job(finish_in=10)  # asked for no callback

    assert simulator.deliver_callbacks() == []
    simulator.set_state(failed, "FAILED")
    simulator.set_state(canceled, "CANCELED")  # not reported, like MetaStudio
    simulator.advance(61)
    sent = simulator.deliver_callbacks()
    assert sorted(d.job_id for d in sent) == sorted([ok, failed])
    assert simulator.deliver_callbacks() == []
    receiver.server.shutdown()

    for path, body in receiver.calls:
        query = dict(parse_qsl(urlsplit(path).query))
        ts = query["time_stamp"]
        assert abs(int(ts, 16) - simulator.now().timestamp()) < 2
        mac = hmac.new(b"k1", (receiver.url + ts).encode(), hashlib.sha256).hexdigest()
        assert query["secret"] == mac and query["team"] == "a"
        assert body["result"] == ("SUCCEED" if body["job_id"] == ok else "FAILED")
        assert set(body) == {"result", "asset_id", "job_id"}
