"""Retry end to end (issue #24): typed and pressed in Slack, answered through the real
app, router, client and database, against the simulator's create and asset library and
the fake Slack. A retry spends video minutes, so every test counts the creates."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.commands.retrying import confirm_value
from bot.commands.types import Context, Track
from bot.simulator.configs import FROZEN_MODEL, kept
from bot.views import actions
from tests.fixtures.app import SlackSender
from tests.fixtures.simulator import BODY_2D, BODY_PHOTO, add_failed_2d


@pytest.fixture
def bot_settings(bot_settings):
    """Retry allowed to U1 directly and to the members of S0ONCALL; a short read timeout,
    so a create MetaStudio answers late is one the client gave up on."""
    return bot_settings.model_copy(update={"retry_allowed": "U1, S0ONCALL",
                                           "metastudio_read_timeout": 0.5})


failed_2d = add_failed_2d


def buttons(payload: dict) -> dict[str, str]:
    """action_id -> value of the buttons in an answer."""
    return {e["action_id"]: e.get("value") for b in payload.get("blocks", [])
            if b["type"] == "actions" for e in b["elements"]}


def creates(simulator) -> list:
    return [r for r in simulator.requests if r.method == "POST" and r.path.endswith("-videos")]


# -- asking first ------------------------------------------------------------------------


def test_retry_asks_first_with_what_it_creates_and_costs(slack: SlackSender, simulator):
    job_id = failed_2d(simulator)

    slack.command(f"retry {job_id}")

    [prompt] = slack.answers()
    text = json.dumps(prompt["blocks"], ensure_ascii=False)
    assert f"Retry `{job_id}`?" in text
    assert "Quarterly update · retry " in text  # the new output name, unique to the attempt
    assert "about *1 video minute*" in text  # 250 characters at speed 100
    assert "min left of" in text  # against the package, as ``quota`` shows it
    assert "callback_config" in text and "review_config" in text  # not carried over
    assert buttons(prompt)[actions.RETRY_CONFIRM] == confirm_value(job_id, None)
    assert creates(simulator) == [] and simulator.create_calls == 0


def test_retry_now_creates_one_job_from_the_original_and_tracks_it(slack: SlackSender,
                                                                   simulator, services):
    job_id = failed_2d(simulator)

    slack.click(actions.RETRY_CONFIRM, confirm_value(job_id, None))

    [answer] = slack.answers("click")
    [new_id] = simulator.created
    assert answer["text"] == f"🔁 <@U1> retried `{job_id}`: created `{new_id}`."
    assert answer["replace_original"] is True  # the question becomes the answer
    [request] = creates(simulator)
    body = json.loads(request.body)
    assert body["script_id"] == "script-1" and body["model_asset_id"] == "sim-model-anna"
    assert body["output_asset_config"]["asset_name"].startswith("Quarterly update · retry ")
    # Not tracked before: a tracking message of its own in the channel.
    [tracking] = slack.fake.posts("C1")
    assert new_id in json.dumps(tracking.blocks)
    [entry] = services.tracking.store.actions(None, None)
    assert (entry.user_id, entry.action, entry.target) == ("U1", "retry", job_id)
    assert entry.result == f"created {new_id}"


def test_a_second_press_later_creates_nothing_and_names_the_first_retry(slack: SlackSender,
                                                                        simulator):
    job_id = failed_2d(simulator)
    slack.click(actions.RETRY_CONFIRM, confirm_value(job_id, None), response="one")
    slack.answers("one")
    [new_id] = simulator.created

    slack.click(actions.RETRY_CONFIRM, confirm_value(job_id, None), response="two")
    slack.command(f"retry {job_id}", response="three")

    for response in ("two", "three"):
        [again] = slack.answers(response)
        assert f"already retried by <@U1> as `{new_id}`" in again["text"]
    assert simulator.created == [new_id] and simulator.create_calls == 1


def test_the_new_job_is_tracked_in_the_originals_tracking_thread(slack: SlackSender,
                                                                 simulator, services):
    job_id = simulator.add_job(state="PROCESSING", asset_name="Quarterly update",
                               config=kept(BODY_2D, photo=False))
    ctx = Context("U1", "C1", ZoneInfo("UTC"))
    services.tracking.service.track(ctx, Track((job_id,)), datetime.now(UTC))
    [tracking] = slack.fake.posts("C1")
    simulator.set_state(job_id, "FAILED")

    slack.click(actions.RETRY, job_id, response="ask")
    slack.click(actions.RETRY_CONFIRM, buttons(slack.answers("ask")[0])[actions.RETRY_CONFIRM])

    slack.answers("click")
    [new_id] = simulator.created
    [line] = slack.fake.thread("C1", tracking.ts)
    assert line.text.startswith(f"🔁 <@U1> retried `{job_id}` as ⏳ `{new_id}`")
    tracked = services.tracking.store.in_message("C1", tracking.ts)
    assert {t.job_id: t.thread_only for t in tracked} == {job_id: False, new_id: False}


def test_pressed_on_an_announcement_the_new_job_is_tracked_in_its_thread(slack: SlackSender,
                                                                        simulator, services):
    job_id = failed_2d(simulator)
    announcement = slack.fake.say("C1", f"❌ `{job_id}` failed", user=None)  # the bot's

    slack.click(actions.RETRY, job_id, response="ask", message={"ts": announcement.ts})
    value = buttons(slack.answers("ask")[0])[actions.RETRY_CONFIRM]
    assert json.loads(value)["t"] == announcement.ts  # carried through the question
    slack.click(actions.RETRY_CONFIRM, value)

    slack.answers("click")
    [new_id] = simulator.created
    [line] = slack.fake.thread("C1", announcement.ts)
    assert f"as ⏳ `{new_id}`" in line.text
    [tracked] = services.tracking.store.in_message("C1", announcement.ts)
    assert tracked.job_id == new_id and tracked.thread_only  # never redrawn as a tracker


# -- guards ------------------------------------------------------------------------------


def test_someone_not_allowed_is_refused_before_any_upstream_call(slack: SlackSender,
                                                                 simulator):
    job_id = failed_2d(simulator)
    slack.user_id = "U6"
    before = len(simulator.requests)

    slack.click(actions.RETRY_CONFIRM, confirm_value(job_id, None), response="no")
    slack.command(f"retry {job_id}", response="typed")

    for response in ("no", "typed"):
        [refused] = slack.answers(response)
        assert refused["text"].startswith("🔒 Only <@U1>, <!subteam^S0ONCALL> may retry jobs")
    assert simulator.requests[before:] == [] and simulator.create_calls == 0


def test_a_group_member_may_retry(slack: SlackSender, simulator):
    slack.fake.usergroups["S0ONCALL"] = ["U5"]
    job_id = failed_2d(simulator)
    slack.user_id = "U5"

    slack.click(actions.RETRY_CONFIRM, confirm_value(job_id, None))

    assert "created" in slack.answers("click")[0]["text"] and len(simulator.created) == 1


def test_a_frozen_model_refuses_the_retry_with_its_reason(slack: SlackSender, simulator):
    job_id = failed_2d(simulator, model_asset_id=FROZEN_MODEL)

    slack.command(f"retry {job_id}")
    slack.click(actions.RETRY_CONFIRM, confirm_value(job_id, None))

    for answer in (slack.answers()[0], slack.answers("click")[0]):
        assert answer["text"].startswith("🛑 Not retried:")
        assert "Dora (2D model)" in answer["text"] and "PORTRAIT_RIGHTS" in answer["text"]
    assert simulator.create_calls == 0


def test_a_model_frozen_after_the_question_is_caught_at_the_press(slack: SlackSender,
                                                                  simulator):
    model = simulator.add_asset(name="Eve (2D model)")
    job_id = failed_2d(simulator, model_asset_id=model)
    slack.command(f"retry {job_id}")
    assert actions.RETRY_CONFIRM in buttons(slack.answers()[0])

    simulator.set_asset_state(model, "BLOCK", block_reason_code="REVIEW_TAKEDOWN")
    slack.click(actions.RETRY_CONFIRM, confirm_value(job_id, None))

    assert "REVIEW_TAKEDOWN" in slack.answers("click")[0]["text"]
    assert simulator.create_calls == 0


@pytest.mark.parametrize("state", ["SUCCEED", "WAITING", "PROCESSING", "CANCELED"])
def test_only_failed_jobs_are_retried(slack: SlackSender, simulator, state):
    job_id = simulator.add_job(state=state)

    slack.click(actions.RETRY_CONFIRM, confirm_value(job_id, None))

    assert "only a failed job is retried" in slack.answers("click")[0]["text"]
    assert simulator.create_calls == 0


def test_a_photo_job_is_retried_with_its_photo(slack: SlackSender, simulator):
    job_id = simulator.add_job(state="FAILED", job_type="PHOTO_DIGITAL_HUMAN_VIDEO",
                               asset_name="Greeting", config=kept(BODY_PHOTO, photo=True))

    slack.click(actions.RETRY_CONFIRM, confirm_value(job_id, None))

    assert "created" in slack.answers("click")[0]["text"]
    [request] = creates(simulator)
    assert request.path.endswith("/photo-digital-human-videos")
    assert json.loads(request.body)["human_image"] == BODY_PHOTO["human_image"]


@pytest.mark.parametrize("value", ["", "not json", '{"j": "../x"}', '{"j": "a", "t": "x"}',
                                   '[[[[', '{"t": "1.2"}'])
def test_a_forged_retry_value_is_refused(slack: SlackSender, simulator, value):
    slack.click(actions.RETRY_CONFIRM, value)

    assert "no longer points at a job" in slack.answers("click")[0]["text"]
    assert simulator.create_calls == 0


# -- exactly one create ------------------------------------------------------------------


def test_two_people_pressing_at_once_create_one_job(simulator, services, slack):
    """Both pass the allow list together, then race for the claim: one creates, the
    other is told who does (or, if the first already finished, that it was retried)."""
    job_id = failed_2d(simulator)
    retrier = services.router.retrier
    assert retrier is not None
    retrier.policy.users = frozenset({"U1", "U5"})
    together = threading.Barrier(2, timeout=10)
    allows = retrier.policy.allows

    def allows_then_wait(user: str) -> bool:
        allowed = allows(user)
        together.wait()
        return allowed

    retrier.policy.allows = allows_then_wait  # type: ignore[method-assign]
    answers: dict[str, str] = {}

    def press(user: str) -> None:
        ctx = Context(user_id=user, channel_id="C1", tz=ZoneInfo("UTC"))
        reply = services.router.handle_action(actions.RETRY_CONFIRM,
                                              confirm_value(job_id, None), ctx)
        answers[user] = reply.text if reply else ""

    pressers = [threading.Thread(target=press, args=(u,)) for u in ("U1", "U5")]
    for thread in pressers:
        thread.start()
    for thread in pressers:
        thread.join(20)

    assert simulator.create_calls == 1, answers
    [new_id] = simulator.created
    winner = next(u for u, text in answers.items() if ": created `" in text)
    loser = "U5" if winner == "U1" else "U1"
    assert answers[loser] in (
        f"<@{winner}> is retrying `{job_id}` right now; it is created once.",
        f"`{job_id}` was already retried by <@{winner}> as `{new_id}`; nothing new was "
        "created. Retry that job if it failed too.")


def test_a_create_answered_too_late_is_found_not_sent_again(slack: SlackSender, simulator,
                                                            services):
    """MetaStudio makes the job and answers after the client gave up: the press looks
    for it by its output name and reports it; a second press creates nothing."""
    job_id = failed_2d(simulator)
    simulator.faults.time_out_creates(after=1.5)

    slack.click(actions.RETRY_CONFIRM, confirm_value(job_id, None), response="one")

    [answer] = slack.answers("one")
    [new_id] = simulator.created
    assert answer["text"] == f"🔁 <@U1> retried `{job_id}`: created `{new_id}`."
    slack.click(actions.RETRY_CONFIRM, confirm_value(job_id, None), response="two")
    assert f"as `{new_id}`" in slack.answers("two")[0]["text"]
    assert simulator.create_calls == 1
    assert services.tracking.store.tracking_message_of("C1", new_id) is not None


def test_a_create_still_in_doubt_is_looked_for_before_the_next_press_sends(
        slack: SlackSender, simulator, services, mocker):
    """The look right after the timeout does not see the job yet (MetaStudio's list
    lags): the person is told so; the next press finds the job instead of creating."""
    from bot.commands import retrying

    job_id = failed_2d(simulator)
    simulator.faults.time_out_creates(after=1.5)
    real_find = retrying.find_created
    looks = mocker.patch.object(retrying, "find_created", side_effect=[None, None])

    slack.click(actions.RETRY_CONFIRM, confirm_value(job_id, None), response="one")

    assert "did not answer the create" in slack.answers("one")[0]["text"]
    assert services.tracking.store.actions(None, None)[0].result.startswith("in doubt")
    looks.side_effect = real_find
    slack.click(actions.RETRY_CONFIRM, confirm_value(job_id, None), response="two")

    [new_id] = simulator.created
    assert f"found the job an earlier press made: `{new_id}`" in slack.answers("two")[0]["text"]
    assert simulator.create_calls == 1


def test_a_create_refused_by_metastudio_makes_nothing_and_may_be_pressed_again(
        slack: SlackSender, simulator):
    """A 400 names what MetaStudio refused; nothing is left in doubt, so the next press
    sends again (after the original's settings were fixed, say) instead of looking."""
    odd_size = {**BODY_2D["video_config"], "width": 1000, "height": 1000}
    job_id = failed_2d(simulator, video_config=odd_size)

    slack.click(actions.RETRY_CONFIRM, confirm_value(job_id, None), response="one")
    [refused] = slack.answers("one")
    assert refused["text"].startswith(f"MetaStudio refused to re-create `{job_id}`: HTTP 400")
    assert "width x height" in refused["text"] and "Nothing was created" in refused["text"]

    before = len(simulator.requests)
    slack.click(actions.RETRY_CONFIRM, confirm_value(job_id, None), response="two")
    assert "MetaStudio refused" in slack.answers("two")[0]["text"]
    assert simulator.created == [] and simulator.create_calls == 2
    # Nothing was in doubt: no list read looked for a job by its output name.
    assert not [r for r in simulator.requests[before:]
                if r.method == "GET" and "asset_name" in dict(r.params)]


# -- off ---------------------------------------------------------------------------------


class TestWithoutRetryAllowed:
    @pytest.fixture
    def bot_settings(self, bot_settings):
        return bot_settings.model_copy(update={"retry_allowed": ""})

    def test_no_button_and_the_command_is_refused(self, slack: SlackSender, simulator):
        job_id = failed_2d(simulator)

        slack.command(f"status {job_id}", response="card")
        slack.command(f"retry {job_id}", response="typed")
        slack.click(actions.RETRY_CONFIRM, confirm_value(job_id, None))

        assert actions.RETRY not in buttons(slack.answers("card")[0])
        for response in ("typed", "click"):
            assert "off for this bot (`RETRY_ALLOWED`)" in slack.answers(response)[0]["text"]
        assert simulator.create_calls == 0


def test_the_status_card_of_a_failed_job_offers_retry(slack: SlackSender, simulator):
    failed = failed_2d(simulator)
    done = simulator.add_job(state="SUCCEED")

    slack.command(f"status {failed} {done}")

    values = [e.get("value") for b in slack.answers()[0]["blocks"] if b["type"] == "actions"
              for e in b["elements"] if e["action_id"] == actions.RETRY]
    assert values == [failed]
