"""The router over the real client and the simulator: what each command answers.

Replies are checked through ``to_payload()`` (what Slack receives) and ``render_text``
(what the console shows); upstream requests through ``simulator.requests``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.commands.router import Router
from bot.commands.types import Context
from bot.views import actions
from bot.views.text import render_text

UTC_USER = Context(user_id="U1", channel_id="C1", tz=ZoneInfo("UTC"))
SHANGHAI_USER = Context(user_id="U2", channel_id="C1", tz=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def router(jobs_client):
    return Router(jobs_client)


def shown(reply) -> str:
    """What the console shows, without code-span backticks."""
    return render_text(reply).replace("`", "")


def final(reply):
    """The answer as it ends up: its follow-up (which replaces it) when it has one that
    changes something, as the Slack listeners and the console send it."""
    later = reply.followup() if reply.followup else None
    return later or reply


def payload(reply) -> str:
    return json.dumps(reply.to_payload(), ensure_ascii=False)


def buttons(reply) -> dict[str, str]:
    """action_id -> value of every button in the reply."""
    found = {}
    for block in reply.to_payload().get("blocks", []):
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            found[element["action_id"]] = element.get("value")
        accessory = block.get("accessory") or {}
        if accessory.get("type") == "button":
            found[accessory["action_id"]] = accessory.get("value")
    return found


def list_params(simulator) -> dict[str, str]:
    """The query of the last list request."""
    return dict(simulator.requests[-1].params)


# -- status -------------------------------------------------------------------------------


def test_status_shows_a_card_per_job_and_a_line_for_unknown_ids(simulator, router):
    done = simulator.add_job(state="SUCCEED", asset_name="Quarterly update (EN)")
    broken = simulator.add_job(
        state="FAILED", error_code="MSS.10003001", error_msg="Render timeout"
    )

    first = router.handle(f"status {done} {broken} nosuchjob", UTC_USER)

    # Answered after one batch look-up, saying the unknown id is still being looked for.
    assert [r.path.rsplit("/", 2)[-2] for r in simulator.requests] == ["proj-1"]
    assert "looking among older jobs" in shown(first)
    reply = final(first)
    text = shown(reply)
    assert done in text and "Quarterly update (EN)" in text
    assert broken in text and "MSS.10003001" in text and "Render timeout" in text
    assert "nosuchjob" in text and "No job" in text and "looking" not in text
    assert reply.response_type == "ephemeral" and reply.replace_original
    # The id the batch did not return is tried with both per-type detail operations
    # (a job older than the list's month; side by side, so in either order), 404 on both.
    assert sorted(r.path.rsplit("/", 2)[-2] for r in simulator.requests[1:]) == [
        "2d-digital-human-videos", "photo-digital-human-videos"]
    assert all(r.path.endswith("/nosuchjob") for r in simulator.requests[1:])


def test_status_cover_is_a_thumbnail(simulator, router):
    done = simulator.add_job(state="SUCCEED")
    reply = router.handle(f"status {done}", UTC_USER)
    assert simulator.jobs[done]["output_asset_config"]["cover_url"].split("?")[0] in payload(reply)
    assert '"alt_text"' in payload(reply)


def test_bad_input_makes_no_upstream_call(simulator, router):
    reply = router.handle("status not/an/id", UTC_USER)
    assert "is not a job id" in reply.text
    assert simulator.requests == []


# -- listings -----------------------------------------------------------------------------


def test_failed_today_groups_errors_on_top_newest_first(simulator, jobs_client, sim_clock):
    # The router's clock at noon of the simulator's day: the jobs below, up to 50 minutes
    # old, are "today" whatever time of day the suite runs.
    now = sim_clock().replace(hour=12, minute=0, second=0, microsecond=0)
    router = Router(jobs_client, clock=lambda: now)
    for minutes, code in [(50, "MSS.00000004"), (40, "MSS.10003001"), (30, "MSS.00000004")]:
        simulator.add_job(state="FAILED", error_code=code, error_msg="boom",
                          create_time=now - timedelta(minutes=minutes))
    simulator.add_job(state="SUCCEED")

    reply = router.handle("failed", UTC_USER)

    text = shown(reply)
    assert text.index("2× MSS.00000004") < text.index("1× MSS.10003001")
    params = list_params(simulator)
    assert params["state"] == "FAILED" and params["sort_dir"] == "desc"
    assert params["create_since"] == now.strftime("%Y-%m-%dT00:00:00Z")


def test_today_is_the_requesting_users_today(simulator, router):
    router.handle("failed today", SHANGHAI_USER)
    since = datetime.strptime(list_params(simulator)["create_since"], "%Y-%m-%dT%H:%M:%SZ")
    assert since.replace(tzinfo=UTC).astimezone(ZoneInfo("Asia/Shanghai")).hour == 0


def test_empty_listing_says_so(simulator, router):
    assert "No jobs match" in shown(router.handle("canceled 7d", UTC_USER))
    assert "No failed jobs" in shown(router.handle("failed", UTC_USER))


def test_list_sends_every_filter_and_nothing_else(simulator, router):
    router.handle('list state=failed,succeeded type=photo asset="A&limit=1000" script=s1 '
                  "sort=asc 24h", UTC_USER)
    params = dict(simulator.requests[-1].params)
    assert params["state"] == "FAILED,SUCCEED"
    assert params["job_type"] == "PHOTO_DIGITAL_HUMAN_VIDEO"
    assert params["asset_name"] == "A&limit=1000"
    assert params["script_id"] == "s1"
    assert params["sort_dir"] == "asc"
    assert params["limit"] == "20"
    assert set(params) == {"offset", "limit", "state", "job_type", "asset_name", "script_id",
                           "sort_key", "sort_dir", "create_since"}


def test_more_jobs_than_fit_page_with_show_more(simulator, router):
    for _ in range(45):
        simulator.add_job(state="PROCESSING")

    first = router.handle("processing", UTC_USER)
    more = buttons(first)[actions.SHOW_MORE]
    second = router.handle_action(actions.SHOW_MORE, more, UTC_USER)
    third = router.handle_action(actions.SHOW_MORE, buttons(second)[actions.SHOW_MORE], UTC_USER)

    assert [dict(r.params)["offset"] for r in simulator.requests] == ["0", "20", "40"]
    assert actions.SHOW_MORE not in buttons(third)  # 45 jobs: nothing left after the third
    assert len(first.to_payload()["blocks"]) <= 50


def test_failed_listing_pages_rows_while_triage_covers_every_failure(simulator, router):
    for i in range(130):
        simulator.add_job(state="FAILED", error_code=f"E{i % 3}", error_msg="x")

    reply = final(router.handle("failed", UTC_USER))

    text = shown(reply)
    assert "44× E0" in text and "43× E1" in text and "43× E2" in text
    assert [dict(r.params)["limit"] for r in simulator.requests] == ["100", "100"]
    assert actions.SHOW_MORE in buttons(reply)


def test_show_more_during_an_incident_neither_repeats_nor_skips_rows(simulator, router):
    # Newest first: failures arriving between two clicks must not push page one into two.
    start = datetime.now(UTC) - timedelta(hours=1)
    for i in range(30):
        simulator.add_job(state="FAILED", asset_name=f"old-{i:02d}",
                          create_time=start + timedelta(minutes=i))
    first = router.handle("failed 24h", UTC_USER)
    for i in range(5):
        simulator.add_job(state="FAILED", asset_name=f"new-{i}",
                          create_time=datetime.now(UTC) + timedelta(seconds=10))

    second = router.handle_action(actions.SHOW_MORE, buttons(first)[actions.SHOW_MORE], UTC_USER)

    assert "old-29" in shown(first) and "old-10" in shown(first)
    assert [f"old-{i:02d}" in shown(second) for i in range(10)] == [True] * 10
    assert "new-" not in shown(second) and "old-10" not in shown(second)


def test_show_more_after_midnight_still_pages_the_day_that_was_asked_about(simulator, jobs_client):
    now = [datetime(2026, 3, 1, 23, 55, tzinfo=UTC)]
    router = Router(jobs_client, clock=lambda: now[0], page_size=5)
    for i in range(8):
        simulator.add_job(state="FAILED", create_time=now[0] - timedelta(minutes=i + 1))
    first = router.handle("failed", UTC_USER)
    now[0] += timedelta(minutes=10)

    router.handle_action(actions.SHOW_MORE, buttons(first)[actions.SHOW_MORE], UTC_USER)

    sinces = {dict(r.params)["create_since"] for r in simulator.requests}
    assert sinces == {"2026-03-01T00:00:00Z"}


@pytest.mark.parametrize(
    "value",
    [
        json.dumps({"t": "failed", "o": 20, "s": -5, "u": 1_800_000_000}),
        json.dumps({"t": "failed", "o": 20, "s": 1_800_000_000, "u": 1_700_000_000}),
        json.dumps({"t": "failed", "o": 20, "s": None, "u": 10**12}),
        json.dumps({"t": "failed", "o": 20, "s": None, "u": "tomorrow"}),
    ],
)
def test_tampered_bounds_in_a_button_are_refused_without_upstream_calls(simulator, router,
                                                                        value):
    reply = router.handle_action(actions.SHOW_MORE, value, UTC_USER)
    assert "out of date" in reply.text
    assert simulator.requests == []


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        json.dumps({"t": "processing", "o": -1}),
        json.dumps({"t": "processing", "o": 10**9}),
        json.dumps({"t": "list foo=bar", "o": 20}),
        json.dumps({"t": "track j1", "o": 0}),
        json.dumps({"o": 20}),
    ],
)
def test_tampered_button_values_are_refused_without_upstream_calls(simulator, router, value):
    reply = router.handle_action(actions.SHOW_MORE, value, UTC_USER)
    assert "out of date" in reply.text
    assert simulator.requests == []


def test_post_to_channel_repeats_the_answer_for_everyone(simulator, router):
    simulator.add_job(state="FAILED")
    private = router.handle("failed", UTC_USER)

    value = buttons(private)[actions.POST_TO_CHANNEL]
    public = router.handle_action(actions.POST_TO_CHANNEL, value, UTC_USER)

    assert public.response_type == "in_channel"
    assert actions.POST_TO_CHANNEL not in buttons(public)


def test_refresh_looks_again_and_replaces_the_card(simulator, router):
    job = simulator.add_job(state="PROCESSING")
    router.handle(f"status {job}", UTC_USER)
    simulator.set_state(job, "SUCCEED")

    reply = router.handle_action(actions.REFRESH, job, UTC_USER)

    assert reply.replace_original
    assert len(simulator.requests) == 2  # the cache was bypassed
    assert "Succeeded" in shown(reply)


def test_refresh_on_a_message_of_several_jobs_keeps_every_card(simulator, router):
    first = simulator.add_job(state="PROCESSING", asset_name="Intro")
    second = simulator.add_job(state="WAITING", asset_name="Outro")
    answer = router.handle(f"status {first} {second}", UTC_USER)
    simulator.set_state(first, "SUCCEED")

    reply = router.handle_action(actions.REFRESH, buttons(answer)[actions.REFRESH], UTC_USER)

    assert reply.replace_original
    assert "Intro" in shown(reply) and "Outro" in shown(reply)
    assert "Succeeded" in shown(reply)


@pytest.mark.parametrize(
    "value", [None, "", "job;DROP", " ".join(f"j{n}" for n in range(21))],
)
def test_a_forged_refresh_is_refused_without_upstream_calls(simulator, router, value):
    reply = router.handle_action(actions.REFRESH, value, UTC_USER)
    assert "no longer points at a job" in reply.text
    assert simulator.requests == []


def test_a_mention_typed_as_a_filter_pings_no_one_when_posted(simulator, router):
    reply = router.handle('list asset="<!channel>"', UTC_USER)
    public = router.handle_action(actions.POST_TO_CHANNEL, buttons(reply)[actions.POST_TO_CHANNEL],
                                  UTC_USER)
    assert "<!channel>" not in public.text
    assert "&lt;!channel&gt;" in public.text


def test_unknown_action_is_not_ours(router):
    assert router.handle_action("someone_else", "x", UTC_USER) is None


# -- summary ------------------------------------------------------------------------------


def test_summary_counts_states_failure_rate_and_errors(simulator, router):
    for state in ["SUCCEED"] * 3 + ["FAILED"] + ["PROCESSING"]:
        simulator.add_job(state=state)

    reply = router.handle("summary", UTC_USER)

    text = shown(reply)
    assert "25.0% (1 of 4 finished)" in text
    assert "MSS.00000004" in text
    # One round of reads side by side (so in any order): one per state of the window,
    # its count exact (the newest 100 failures and successes read, one job of the
    # others), and the oldest waiting job of any window.
    asked = [dict(r.params) for r in simulator.requests]
    assert len(asked) == 6 + 1
    [oldest] = [p for p in asked if "create_since" not in p]
    assert (oldest["state"], oldest["limit"], oldest["sort_dir"]) == ("WAITING", "1", "asc")
    per_state = {p["state"]: p["limit"] for p in asked if "create_since" in p}
    assert per_state == {"FAILED": "100", "SUCCEED": "100", "WAITING": "1",
                         "PROCESSING": "1", "CANCELED": "1", "BLOCK": "1"}


def test_a_summary_past_a_page_of_successes_counts_exactly_and_samples_run_times(
        simulator, router):
    for state in ["SUCCEED"] * 101 + ["FAILED"] * 2 + ["WAITING"]:
        simulator.add_job(state=state)

    reply = router.handle("summary 24h", UTC_USER)

    limits = [dict(r.params)["limit"] for r in simulator.requests]
    assert sorted(limits) == ["1"] * (4 + 1) + ["100"] * 2  # still one read per state
    assert "Succeeded: *101*" in shown(reply) and "1.9% (2 of 103 finished)" in shown(reply)
    assert "sample" in shown(reply)


# -- upstream errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, "METASTUDIO_AK"),
        (404, "METASTUDIO_PROJECT_ID"),
        (500, "MSS.00000004"),
        (429, "APIGW.0308"),
    ],
)
def test_upstream_errors_are_explained_with_status_and_request_id(
    simulator, metastudio_client, router, status, expected
):
    simulator.faults.fail_next(status=status, times=10)
    # The X-Request-Id of each answer the client got (after the transport's retries).
    received: list[str] = []
    metastudio_client.transport.session.hooks["response"].append(
        lambda response, *args, **kwargs: received.append(response.headers["X-Request-Id"]))

    reply = router.handle("failed", UTC_USER)

    text = shown(reply)
    assert f"HTTP {status}" in text and expected in text
    assert len(received) == 1 and received[0] in text and "request id" in text
    assert "Traceback" not in text


def test_an_unexpected_failure_gives_a_reference_not_a_traceback(router, mocker, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    mocker.patch.object(router.jobs, "list_by_ids", side_effect=broken)
    reply = router.handle("status j1", UTC_USER)
    assert "reference" in reply.text and "RuntimeError" not in reply.text
    assert "bug" in caplog.text


def test_track_explains_upstream_errors_like_every_command(simulator, jobs_client, sqlite_url,
                                                          fake_slack, slack_client):
    from bot.settings import Settings
    from bot.slack.messenger import SlackMessenger
    from bot.wiring.tracking import build_tracking

    settings = Settings(_env_file=None, database_url=sqlite_url)
    tracking = build_tracking(settings, jobs_client, SlackMessenger(slack_client))
    simulator.faults.fail_next(status=401, times=5)

    reply = Router(jobs_client, tracking=tracking.service).handle("track j1", UTC_USER)

    assert "HTTP 401" in shown(reply) and "METASTUDIO_AK" in shown(reply)
    assert fake_slack.posts() == []


def test_tracking_commands_without_tracking_say_so(simulator, router):
    assert "not enabled" in router.handle("track j1", UTC_USER).text
    assert simulator.requests == []


# -- what the split of the router must keep ------------------------------------------------


def test_a_boolean_offset_is_not_a_number(simulator, router):
    reply = router.handle_action(actions.SHOW_MORE, '{"t":"failed","o":true,"u":1}', UTC_USER)
    assert "out of date" in reply.text and simulator.requests == []


def test_an_answer_too_long_for_a_button_has_no_button_and_no_error(simulator, router):
    # JSON escapes each "é" to six characters: the value would pass Slack's 2000.
    reply = router.handle(f"list asset={'é' * 200} script={'é' * 200} 7d", UTC_USER)
    assert actions.POST_TO_CHANNEL not in buttons(reply)
    assert "went wrong" not in reply.text


def test_summary_top_errors_are_the_most_frequent_ones(simulator, sim_clock, router):
    # The most frequent code sits between six older and six newer ones, so it is seen
    # seventh whichever way the jobs are read.
    for i in range(12):
        simulator.add_job(state="FAILED", error_code=f"MSS.ONCE{i}", error_msg="x",
                          create_time=sim_clock() - timedelta(minutes=60 - i * 4))
    for minutes in (35, 36, 37):
        simulator.add_job(state="FAILED", error_code="MSS.OFTEN", error_msg="x",
                          create_time=sim_clock() - timedelta(minutes=minutes))
    assert "3× MSS.OFTEN" in shown(router.handle("summary 24h", UTC_USER))


def test_summary_mean_run_time_counts_succeeded_jobs_only(simulator, sim_clock, jobs_client):
    simulator.add_job(finish_in=600, outcome="SUCCEED")
    simulator.add_job(finish_in=60, outcome="FAILED")
    sim_clock.advance(700)
    router = Router(jobs_client, clock=sim_clock)
    assert "Mean run time of succeeded jobs:* 10 min" in shown(router.handle("summary 24h",
                                                                              UTC_USER))


def test_a_deeply_nested_button_value_is_out_of_date_not_an_error(simulator, router):
    reply = router.handle_action(actions.SHOW_MORE, "[" * 100_000, UTC_USER)
    assert "out of date" in reply.text and simulator.requests == []
