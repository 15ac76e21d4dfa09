"""The on-call answers through the router, over the real client and the simulator:
ages, stuck jobs, the runbook and its "List jobs" buttons, quota, Cancel, typos."""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.commands.router import Router
from bot.commands.types import Context
from bot.domain import stuck as stuck_module
from bot.domain.cancel import CancelPolicy
from bot.metastudio.operations import JobOperations
from bot.views import actions
from bot.views.text import render_text
from tests.fixtures.simulator import add_past_waits

USER = Context(user_id="U1", channel_id="C1", tz=ZoneInfo("UTC"))
STRANGER = Context(user_id="U9", channel_id="C1", tz=ZoneInfo("UTC"))


@pytest.fixture
def router(jobs_client, sim_clock):
    return Router(jobs_client, clock=sim_clock, operations=JobOperations.of(jobs_client),
                  cancel_policy=CancelPolicy({"U1"}), quota_warn_percent=10)


def shown(reply) -> str:
    return render_text(reply).replace("`", "")


def buttons(reply) -> dict[str, list[str]]:
    """action_id -> values of every button in the reply (accessories too)."""
    found: dict[str, list[str]] = {}
    for block in reply.to_payload().get("blocks", []):
        elements = block.get("elements", []) if block["type"] == "actions" else []
        accessory = block.get("accessory") or {}
        for element in [*elements, accessory]:
            if element.get("type") == "button":
                found.setdefault(element["action_id"], []).append(element.get("value"))
    return found


# -- ages -----------------------------------------------------------------------------------


def test_listings_and_cards_say_how_long_unfinished_jobs_waited_or_ran(simulator, sim_clock,
                                                                      router):
    waiting = simulator.add_job(state="WAITING",
                                create_time=sim_clock() - timedelta(hours=6, minutes=12))
    running = simulator.add_job(state="WAITING", create_time=sim_clock() - timedelta(hours=1))
    simulator.set_state(running, "PROCESSING")
    sim_clock.advance(14 * 60)
    listing = shown(router.handle("list 7d", USER))
    assert f"{waiting} · Simulated video · 2D avatar video · created" in listing
    assert "waiting 6 h 26 min" in listing and "running 14 min" in listing
    card = shown(router.handle(f"status {waiting}", USER))
    assert "Waiting for* 6 h 26 min" in card


def test_finished_rows_show_their_end_time_labelled(simulator, router):
    simulator.add_job(state="SUCCEED")
    assert "ended " in shown(router.handle("succeeded", USER))


# -- stuck ----------------------------------------------------------------------------------


def test_stuck_with_a_duration_lists_older_unfinished_jobs_oldest_first(simulator, sim_clock,
                                                                       router):
    old = simulator.add_job(state="WAITING", create_time=sim_clock() - timedelta(hours=5))
    older = simulator.add_job(state="WAITING", create_time=sim_clock() - timedelta(hours=9))
    simulator.add_job(state="WAITING", create_time=sim_clock() - timedelta(minutes=30))
    text = shown(router.handle("stuck 2h", USER))
    assert "2 stuck jobs · older than 2 h" in text
    assert text.index(older) < text.index(old)


def test_stuck_by_default_learns_the_line_from_recent_jobs(simulator, sim_clock, router,
                                                          monkeypatch):
    monkeypatch.setattr(stuck_module, "MIN_SAMPLES", 5)
    now = sim_clock()
    # 2D jobs waited about an hour before starting, two days ago in simulated time.
    add_past_waits(simulator, sim_clock, (40, 45, 50, 55, 60, 65), days_ago=2)
    simulator.add_job(state="WAITING", create_time=now - timedelta(minutes=50))
    late = simulator.add_job(state="WAITING", create_time=now - timedelta(minutes=90))
    text = shown(router.handle("stuck", USER))
    assert "1 stuck job" in text and late in text
    assert "2D waiting 1 h" in text  # the learnt line, above the 30 min floor


def test_stuck_falls_back_to_the_floor_without_history(simulator, sim_clock, router):
    late = simulator.add_job(state="WAITING", create_time=sim_clock() - timedelta(minutes=31))
    simulator.add_job(state="WAITING", create_time=sim_clock() - timedelta(minutes=29))
    text = shown(router.handle("stuck", USER))
    assert "1 stuck job" in text and late in text
    assert "2D waiting 30 min" in text


def test_summary_shows_the_oldest_waiting_job_even_from_before_the_window(simulator, sim_clock,
                                                                         router):
    oldest = simulator.add_job(state="WAITING", create_time=sim_clock() - timedelta(days=3))
    simulator.add_job(state="WAITING")
    text = shown(router.handle("summary", USER))
    assert f"Oldest waiting job:* {oldest}" in text and "waiting 3 d 0 h" in text


# -- runbook and triage ---------------------------------------------------------------------


def test_failed_triage_gives_each_code_its_next_step_and_a_list_jobs_button(simulator, router):
    for code in ("MSS.10001006", "MSS.10001006", "MSS.00000004", "X.UNKNOWN"):
        simulator.add_job(state="FAILED", error_code=code, error_msg="boom")
    reply = router.handle("failed", USER)
    text = shown(reply)
    assert "2× MSS.10001006 boom\n↳ *Next step:* MetaStudio could not create" in text
    assert "X.UNKNOWN boom" in text
    [value] = [v for v in buttons(reply)[actions.JOBS_WITH_CODE]
               if json.loads(v)["c"] == "MSS.10001006"]
    assert len(buttons(reply)[actions.JOBS_WITH_CODE]) == 3

    listed = router.handle_action(actions.JOBS_WITH_CODE, value, USER)
    rows = [line for line in shown(listed).splitlines()[2:] if line.startswith("❌ ")]
    assert len(rows) == 2 and all("MSS.10001006" in row for row in rows)
    assert "· MSS.10001006" in shown(listed).splitlines()[0]


@pytest.mark.parametrize("value", [
    '{"t":"failed","o":0,"u":1,"c":"a b"}',          # not an error code
    '{"t":"failed","o":0,"u":1}',                     # no code: a Show more value
    '{"t":"status x","o":0,"c":"MSS.1"}',             # not a listing
    "garbage",
])
def test_a_tampered_list_jobs_value_is_refused_without_upstream_calls(simulator, router, value):
    reply = router.handle_action(actions.JOBS_WITH_CODE, value, USER)
    assert "out of date" in reply.text and simulator.requests == []


def test_a_failed_card_carries_the_runbook_hint(simulator, router):
    job = simulator.add_job(state="FAILED", error_code="MSS.10001001", error_msg="Asset not found")
    assert "Next step:* The asset the job uses does not exist" in shown(
        router.handle(f"status {job}", USER))


# -- quota ----------------------------------------------------------------------------------


def test_quota_shows_minutes_per_business_type_and_warns_when_low(simulator, router):
    text = shown(router.handle("quota", USER))
    assert "2D avatar video*: 519.5 min left (52% left) · 480.5 min of 1,000 min used" in text
    assert "Video minutes running low (under 10%): Photo avatar video 9 min left (3%)" in text
    request = simulator.requests[-1]
    assert request.path.endswith("/tenants/resources-usage")
    assert dict(request.params)["business"] == "VIDEO_2D,PICTURE_2D"


def test_summary_warns_when_minutes_run_low_and_not_otherwise(simulator, router):
    assert "running low" in shown(router.handle("summary", USER))
    simulator.resources = [{"business_type": "VIDEO_2D", "amount": 100, "usage": 10,
                            "unit": "MIN"}]
    assert "running low" not in shown(router.handle("summary", USER))


def test_a_quota_failure_is_explained_and_does_not_break_the_summary(simulator, router):
    simulator.faults.fail_next(status=500, times=4)  # the first try and 3 retries
    assert "Couldn't" in shown(router.handle("quota", USER))
    simulator.resources = "nope"  # a quota answer the bot cannot read
    assert "Summary" in shown(router.handle("summary", USER))


def test_a_malformed_resources_answer_is_explained(simulator, router):
    simulator.resources = "nope"
    assert "Couldn't read the video minutes" in shown(router.handle("quota", USER))


# -- cancel ---------------------------------------------------------------------------------


def test_cancel_is_offered_on_waiting_cards_only_when_someone_may_press_it(simulator, jobs_client):
    waiting = simulator.add_job(state="WAITING")
    running = simulator.add_job(state="PROCESSING")
    allowed = Router(jobs_client, operations=JobOperations.of(jobs_client),
                     cancel_policy=CancelPolicy({"U1"}))
    nobody = Router(jobs_client, operations=JobOperations.of(jobs_client))
    assert buttons(allowed.handle(f"status {waiting} {running}", USER))[actions.CANCEL] == [
        waiting]
    assert actions.CANCEL not in buttons(nobody.handle(f"status {waiting}", USER))
    confirm = next(b for b in allowed.handle(f"status {waiting}", USER).to_payload()["blocks"]
                   if b["type"] == "actions")["elements"][-1]["confirm"]
    assert confirm["confirm"]["text"] == "Cancel the job"


def test_an_allowed_user_cancels_a_waiting_job(simulator, router):
    job = simulator.add_job(state="WAITING", job_type="PHOTO_DIGITAL_HUMAN_VIDEO")
    reply = router.handle_action(actions.CANCEL, job, USER)
    assert f"<@U1> canceled `{job}`" in reply.text
    assert simulator.jobs[job]["state"] == "CANCELED"
    [post] = [r for r in simulator.requests if r.method == "POST"]
    assert post.path == f"/v1/proj-1/photo-digital-human-videos/{job}/cancel"
    assert "Canceled" in shown(reply)  # the card as it is now


def test_anyone_else_gets_a_one_line_refusal_and_nothing_is_canceled(simulator, router):
    job = simulator.add_job(state="WAITING")
    reply = router.handle_action(actions.CANCEL, job, STRANGER)
    assert reply.text == "🔒 Only <@U1> may cancel jobs from Slack."
    assert simulator.jobs[job]["state"] == "WAITING"
    assert [r for r in simulator.requests if r.method == "POST"] == []


def test_a_member_of_an_allowed_group_may_cancel(simulator, jobs_client):
    job = simulator.add_job(state="WAITING")
    members = {"S0ONCALL": frozenset({"U9"})}
    router = Router(jobs_client, operations=JobOperations.of(jobs_client),
                    cancel_policy=CancelPolicy({"S0ONCALL"}, members.__getitem__))
    assert "canceled" in router.handle_action(actions.CANCEL, job, STRANGER).text
    assert "Only <!subteam^S0ONCALL>" in router.handle_action(actions.CANCEL, job, USER).text


def test_a_job_that_started_meanwhile_is_explained_not_canceled(simulator, router):
    job = simulator.add_job(state="PROCESSING")
    reply = router.handle_action(actions.CANCEL, job, USER)
    assert "is processing now, and MetaStudio cancels only waiting jobs" in reply.text
    assert [r for r in simulator.requests if r.method == "POST"] == []


def test_metastudio_refusing_a_job_that_just_started_is_explained(simulator, router):
    job = simulator.add_job(state="WAITING")
    router.handle(f"status {job}", USER)  # the card the user pressed Cancel on

    class StartsOnCancel(JobOperations):
        def cancel(self, job_id, *, photo):
            simulator.set_state(job_id, "PROCESSING")  # it starts just before the POST
            return super().cancel(job_id, photo=photo)

    router.operations = StartsOnCancel.of(router.jobs)
    reply = router.handle_action(actions.CANCEL, job, USER)
    assert "MetaStudio refused to cancel" in reply.text and "HTTP 400" in reply.text
    assert "MSS.00000003" in reply.text and "it is processing now" in reply.text


def test_cancel_of_an_unknown_or_malformed_job(simulator, router):
    assert "No job `nope` found" in router.handle_action(actions.CANCEL, "nope", USER).text
    assert "no longer points" in router.handle_action(actions.CANCEL, "a b", USER).text
    assert "no longer points" in router.handle_action(actions.CANCEL, None, USER).text


def test_cancel_is_refused_when_off(simulator, jobs_client):
    job = simulator.add_job(state="WAITING")
    router = Router(jobs_client, operations=JobOperations.of(jobs_client))
    assert "off for this bot" in router.handle_action(actions.CANCEL, job, USER).text
    assert simulator.jobs[job]["state"] == "WAITING"


# -- papercuts ------------------------------------------------------------------------------


def test_a_typo_gives_one_line_and_a_button_running_the_suggestion(simulator, router):
    reply = router.handle("faild 7d", USER)
    assert reply.text == "`faild` is not a command. Did you mean `failed`?"
    assert buttons(reply)[actions.RUN] == ["failed 7d"]
    assert len(reply.blocks) == 2  # the line and the button, not the whole help
    ran = router.handle_action(actions.RUN, "failed 7d", USER)
    assert "failed jobs · last 7d" in shown(ran)


def test_the_run_button_is_validated_like_typed_text(simulator, router):
    reply = router.handle_action(actions.RUN, "list foo=bar", USER)
    assert "is not a filter" in reply.text and simulator.requests == []


def test_no_job_found_has_nothing_to_post_to_the_channel(simulator, router):
    reply = router.handle("status nope", USER)
    assert actions.POST_TO_CHANNEL not in buttons(reply)


def test_error_lines_end_with_a_full_stop_before_the_help_hint(simulator, router):
    assert router.handle("failed 0h", USER).text.endswith(
        "use 1-8784h. Try `/videojobs help`.")


def test_a_listing_header_names_the_type_like_its_rows(simulator, router):
    simulator.add_job(state="FAILED", job_type="PHOTO_DIGITAL_HUMAN_VIDEO")
    header = shown(router.handle("failed type=photo", USER)).splitlines()[0]
    assert header.endswith("· Photo avatar video") and "PHOTO_DIGITAL" not in header


def test_a_codes_listing_pages_and_posts_like_any_listing(simulator, jobs_client):
    """Issue #21, 9: **List jobs** of one code had no Post to channel and no paging."""
    router = Router(jobs_client, page_size=2)
    for _ in range(5):
        simulator.add_job(state="FAILED", error_code="MSS.10001006", error_msg="boom")
    simulator.add_job(state="FAILED", error_code="MSS.00000004", error_msg="other")
    [value] = [v for v in buttons(router.handle("failed", USER))[actions.JOBS_WITH_CODE]
               if json.loads(v)["c"] == "MSS.10001006"]
    seen: list[str] = []
    page = router.handle_action(actions.JOBS_WITH_CODE, value, USER)
    while True:
        rows = [line for line in shown(page).splitlines()
                if line.startswith("❌ ") and " · created " in line]  # rows, not the header
        assert rows and all("MSS.10001006" in row for row in rows)
        seen += rows
        assert actions.POST_TO_CHANNEL in buttons(page)
        more = buttons(page).get(actions.SHOW_MORE)
        if not more:
            break
        page = router.handle_action(actions.SHOW_MORE, more[0], USER)
    assert len(seen) == 5 and len(set(seen)) == 5  # every job of the code, once
    [post] = buttons(page)[actions.POST_TO_CHANNEL]
    posted = router.handle_action(actions.POST_TO_CHANNEL, post, USER)
    assert posted.response_type == "in_channel" and "· MSS.10001006" in shown(posted)
    assert not {actions.SHOW_MORE, actions.POST_TO_CHANNEL} & set(buttons(posted))
