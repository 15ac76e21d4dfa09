"""App Home end to end: a signed ``app_home_opened`` in, the ``views.publish`` the fake
Slack received out; its buttons; its upstream cost; its pace when many open it at once."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import requests
from slack_sdk.signature import SignatureVerifier

from bot.settings import Settings
from bot.slack.home import build_home
from bot.slack.services import Services
from bot.views import actions
from bot.views.home import HOME_REFRESH
from bot.wiring.services import build_services
from tests.fixtures.app import SIGNING_SECRET, SlackSender


@pytest.fixture
def services(bot_settings: Settings) -> Services:
    """The real services, with Home paced for a test's seconds instead of minutes."""
    built = build_services(bot_settings)
    return dataclasses.replace(built, home=build_home(
        built.router.jobs, built.tracking.store, built.slack,
        per_user_interval=0.6, workspace_per_minute=10, workspace_window=1.0))


def signed_json(slack: SlackSender, body: dict[str, Any]) -> int:
    raw = json.dumps(body)
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=timestamp,
                                                                      body=raw)
    return requests.post(f"{slack.url}/slack/events", data=raw, timeout=10, headers={
        "Content-Type": "application/json", "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature}).status_code


def open_home(slack: SlackSender, user: str = "U1", tab: str = "home") -> int:
    return signed_json(slack, {
        "token": "legacy", "team_id": slack.fake.team_id, "api_app_id": "A1",
        "type": "event_callback", "event_id": f"Ev{uuid.uuid4().hex[:10]}",
        "event_time": int(time.time()),
        "event": {"type": "app_home_opened", "user": user, "channel": "D" + user[1:],
                  "tab": tab, "event_ts": f"{time.time():.6f}"},
    })


def click_on_home(slack: SlackSender, action_id: str, value: str, user: str = "U1") -> int:
    from urllib.parse import urlencode

    payload = {
        "type": "block_actions", "api_app_id": "A1", "token": "legacy",
        "team": {"id": slack.fake.team_id}, "user": {"id": user},
        "container": {"type": "view", "view_id": f"V{user}"}, "trigger_id": "1.2.3",
        "view": {"id": f"V{user}", "type": "home", "blocks": []},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b1",
                     "value": value, "action_ts": "1700000000.000100"}],
    }
    return slack.post(urlencode({"payload": json.dumps(payload)})).status


def home_text(slack: SlackSender, user: str = "U1", count: int = 1) -> str:
    assert slack.fake.wait_for(lambda f: len(f.publishes.get(user, [])) >= count, timeout=10)
    return json.dumps(slack.fake.home_views[user], ensure_ascii=False)


def upstream(simulator) -> int:
    return simulator.request_count()


def test_home_shows_my_jobs_my_channels_todays_failures_and_stuck_jobs(
        slack: SlackSender, simulator, services: Services):
    slack.fake.user_timezones["U1"] = "Europe/Berlin"
    slack.fake.memberships["U1"] = ["C1", "C2"]
    mine = simulator.add_job(state="PROCESSING", asset_name="Launch teaser")
    slack.command(f"track {mine}")
    slack.answers()
    slack.command("subscribe failed type=2d", response="sub")
    slack.answers("sub")
    services.tracking.store.add_subscription("C9", outcome="all", job_type=None,
                                             asset_name=None, script_id=None,
                                             created_by="U7", now=simulator.now())
    for _ in range(3):
        simulator.add_job(state="FAILED", error_code="MSS.10003001", error_msg="Render timeout")
    simulator.add_job(state="FAILED")
    simulator.add_job(state="FAILED", create_time=simulator.now() - timedelta(days=2))
    stuck = simulator.add_job(state="WAITING",
                              create_time=simulator.now() - timedelta(hours=5))
    theirs = simulator.add_job(state="PROCESSING")
    services.tracking.store.add_tracked("C1", [(theirs, "PROCESSING", None)], message_ts="9.9",
                                        requested_by="U7", now=simulator.now())
    before = upstream(simulator)

    assert open_home(slack) == 200

    text = home_text(slack)
    assert f"⚙️ `{mine}` · Processing" in text and "in <#C1>" in text
    assert "Launch teaser" in text and theirs not in text
    assert "<#C1> #1 failed (type=2D_DIGITAL_HUMAN_VIDEO)" in text and "<#C9>" not in text
    assert "Today's failures (4) · Europe/Berlin" in text
    assert "3× `MSS.10003001` Render timeout" in text
    assert f"⏳ `{stuck}` · Waiting · 5 h 00 min old" in text
    [row] = [b for b in slack.fake.home_views["U1"]["blocks"] if stuck in json.dumps(b)]
    assert (row["accessory"]["action_id"], row["accessory"]["value"]) == (actions.TRACK, stuck)
    # One upstream round: my tracked jobs, today's failures, the unfinished jobs.
    assert upstream(simulator) - before <= 3

    # A colleague opening Home right after reuses the cached answers.
    slack.fake.user_timezones["U2"] = "Europe/Berlin"
    before = upstream(simulator)
    open_home(slack, "U2")
    assert "Jobs you track" in home_text(slack, "U2")
    assert upstream(simulator) == before


def test_opening_the_messages_tab_publishes_nothing(slack: SlackSender):
    assert open_home(slack, tab="messages") == 200
    open_home(slack, "U3")
    home_text(slack, "U3")
    assert not slack.fake.wait_for(lambda f: "U1" in f.home_views, timeout=0.5)


def test_many_people_opening_home_at_once_stay_inside_slacks_limits(slack: SlackSender):
    slack.fake.publish_per_user = 2       # per user per second
    slack.fake.publish_workspace_limit = 20
    slack.fake.publish_window = 1.0
    users = [f"U{n:03d}" for n in range(25)]
    # 75 opens from 8 connections at a time (the test server's listen queue is short;
    # Slack itself would retry an event it could not deliver).
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda user: open_home(slack, user), users * 3))
    assert statuses == [200] * 75

    assert slack.fake.wait_for(lambda f: set(users) <= set(f.home_views), timeout=20)
    assert slack.fake.publish_refusals == 0
    assert all(len(slack.fake.publishes[u]) <= 2 for u in users)  # coalesced


def test_a_rate_limited_publish_is_published_after_retry_after(slack: SlackSender):
    slack.fake.rate_limit("views.publish", retry_after=1)
    open_home(slack)
    assert "videojobs" in home_text(slack)
    assert len(slack.fake.calls_to("views.publish")) == 2


def test_refresh_on_home_looks_at_the_job_again(slack: SlackSender, simulator):
    job = simulator.add_job(state="PROCESSING")
    slack.command(f"track {job}")
    slack.answers()
    open_home(slack)
    assert "Processing" in home_text(slack)
    simulator.set_state(job, "SUCCEED")  # the cached answer still says PROCESSING
    answered = len(slack.fake.calls_to("response_url"))

    assert click_on_home(slack, actions.REFRESH, job) == 200

    assert "✅ `" in home_text(slack, count=2) and "· Succeeded ·" in home_text(slack)
    assert len(slack.fake.calls_to("response_url")) == answered  # the tab is the answer


def test_track_on_home_tracks_the_job_in_my_messages(slack: SlackSender, simulator,
                                                     services: Services):
    job = simulator.add_job(state="WAITING", create_time=simulator.now() - timedelta(hours=3))

    assert click_on_home(slack, actions.TRACK, job) == 200

    text = home_text(slack)
    assert "Tracking" in text and job in text
    [tracking] = slack.fake.posts("D1")
    assert job in tracking.text + json.dumps(tracking.blocks)
    [tracked] = services.tracking.store.channel_tracked("D1")
    assert tracked.job_id == job and tracked.requested_by == "U1"


def test_metastudio_down_still_publishes_what_it_can_and_says_why(
        slack: SlackSender, simulator, services: Services):
    job = simulator.add_job(state="PROCESSING")
    services.tracking.store.add_tracked("C1", [(job, "PROCESSING", None)], message_ts="1.1",
                                        requested_by="U1", now=simulator.now())
    simulator.faults.fail_next(status=503, times=20)

    open_home(slack)

    text = home_text(slack)
    assert f"⚙️ `{job}` · Processing" in text  # the last state the poller saw
    assert "Couldn't ask MetaStudio: MetaStudio answered HTTP 503" in text
    assert "Today's failures (" not in text


def test_home_refresh_button_and_bad_values(slack: SlackSender):
    assert click_on_home(slack, HOME_REFRESH, "home") == 200
    home_text(slack)
    assert click_on_home(slack, actions.TRACK, "../../etc") == 200  # forged: nothing
    assert slack.fake.posts() == []
