"""On-call from the failure itself (docs/oncall.md): a page is repeated once and then
escalated while nobody acknowledges it, an acknowledgement or a snooze says so in its
message and stops or moves the reminders, and failures of one cause are one incident:
one message, a line each, one page, one recovery. The real service, poller, sender,
simulator and fake Slack; time on the test's clock."""

from __future__ import annotations

from datetime import timedelta

from bot.commands.types import Subscribe
from bot.metastudio.query import QueryJobType
from bot.views import actions
from tests.fixtures.tracking import TrackingWorld
from tests.tracking.helpers import ctx

ONCALL, LEADS, THIRD = "S0ONCALL", "S0LEADS", "S0THIRD"
MINUTE = 60


def _subscribe(world: TrackingWorld, **kw: str) -> None:
    world.tracking.service.subscribe(
        ctx(), Subscribe("all", notify_group=ONCALL, escalate_group=LEADS, **kw), world.clock())
    world.cycle()  # adopted
    world.clock.advance(5)


def _fail(world: TrackingWorld, error_code: str = "MSS.00000004") -> str:
    job = world.running()
    world.cycle()
    world.clock.advance(5)
    world.sim.set_state(job, "FAILED", error_code=error_code)
    world.cycle()
    return job


def _pages(world: TrackingWorld):
    return [m for m in world.slack.posts("C1") if m.metadata and m.thread_ts is None]


def _buttons(message) -> dict[str, str]:
    found = {}
    for block in message.blocks or []:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            found[element["action_id"]] = element.get("value")
    return found


def _thread(world: TrackingWorld, page) -> list:
    return world.slack.thread("C1", page.ts)


def test_an_unacknowledged_page_is_repeated_once_then_escalated_once(world: TrackingWorld):
    _subscribe(world)
    job = _fail(world)
    [page] = _pages(world)
    # A single failure reads as one (it becomes an incident when its cause fails again).
    assert page.text.startswith(f"<!subteam^{ONCALL}> ❌ `{job}` failed: MSS.00000004")
    assert set(_buttons(page)) == {actions.ACKNOWLEDGE, actions.SNOOZE}

    world.clock.advance(14 * MINUTE)
    world.cycle()
    assert _thread(world, page) == []  # not yet
    world.clock.advance(2 * MINUTE)
    world = world.restart()  # the reminders live in the database, not in a process
    world.cycle()
    world.cycle()
    [repeat] = _thread(world, page)
    assert repeat.text.startswith(f"<!subteam^{ONCALL}> ⏰ Still unacknowledged after 16 min")

    world.clock.advance(16 * MINUTE)
    world.cycle()
    world.cycle()
    repeated, escalated = _thread(world, page)
    assert repeated == repeat
    assert escalated.text.startswith(f"<!subteam^{LEADS}> 🚨 Escalated: <!subteam^{ONCALL}> "
                                     "did not acknowledge this page")
    world.clock.advance(60 * MINUTE)
    world.cycle()
    assert len(_thread(world, page)) == 2  # each reminder once, and no more


def test_acknowledging_stops_the_reminders_and_says_who_has_it(world: TrackingWorld):
    _subscribe(world)
    _fail(world)
    [page] = _pages(world)
    key = _buttons(page)[actions.ACKNOWLEDGE]
    answer = world.tracking.service.acknowledge(ctx(user="U7"), key, world.clock())
    assert answer.text == "✋ You have it: no more reminders for this page."
    edited = world.slack.message("C1", page.ts)
    assert "✋ <@U7> has it (since" in str(edited.blocks)
    assert actions.ACKNOWLEDGE not in _buttons(edited)  # nothing left to press
    late = world.tracking.service.acknowledge(ctx(user="U8"), key, world.clock())
    assert late.text.startswith("<@U7> already has it")
    world.clock.advance(60 * MINUTE)
    world.cycle()
    assert _thread(world, page) == []
    [entry] = world.tracking.store.actions(None, None)
    assert (entry.user_id, entry.action, entry.target) == ("U7", "acknowledge", key)


def test_a_snooze_moves_the_reminder_an_hour_on(world: TrackingWorld):
    _subscribe(world)
    _fail(world)
    [page] = _pages(world)
    key = _buttons(page)[actions.SNOOZE]
    world.clock.advance(10 * MINUTE)
    answer = world.tracking.service.snooze(ctx(user="U7"), key, world.clock())
    assert answer.text.startswith("😴 Snoozed: the next reminder waits until")
    assert "😴 Snoozed by <@U7> until" in str(world.slack.message("C1", page.ts).blocks)
    world.clock.advance(30 * MINUTE)  # past the 15 minutes, inside the hour
    world.cycle()
    assert _thread(world, page) == []
    world.clock.advance(31 * MINUTE)
    world.cycle()
    world.cycle()
    assert len(_thread(world, page)) == 1  # the repeat, once the snooze ran out


def test_failures_of_one_cause_are_one_incident_with_one_page_and_one_recovery(
        world: TrackingWorld):
    """120 failures of one code over an hour: one message, a line each in its thread
    (the first is in the message itself), one page; a success of that type afterwards:
    one recovered reply."""
    world = world.restart(incident_window_minutes=60, escalate_after_minutes=600)
    _subscribe(world)
    jobs = [world.running() for _ in range(120)]
    world.cycle()
    for job in jobs:
        world.clock.advance(30)
        world.sim.set_state(job, "FAILED", error_code="MSS.10001006")
        world.cycle()
    for _ in range(5):
        world.clock.advance(30)
        world.cycle()
    [incident] = _pages(world)
    assert incident.edits  # its count kept up to date in place
    lines = _thread(world, incident)
    assert len(lines) == 119 and all("subteam" not in m.text for m in lines)
    shown_text = [b for b in incident.blocks if b["type"] == "section"]  # not the buttons
    told = str([shown_text] + [m.text for m in lines])
    assert {job: told.count(job) for job in jobs if told.count(job) != 1} == {}
    shown = world.slack.message("C1", incident.ts)
    assert "120 2D avatar video jobs failed with `MSS.10001006`" in shown.text
    pages = [m for m in world.slack.posts("C1") if f"<!subteam^{ONCALL}>" in m.text]
    assert pages == [incident]  # paged once

    ok = world.running()
    world.cycle()
    world.clock.advance(30)
    world.sim.set_state(ok, "SUCCEED")
    world.cycle()
    world.cycle()
    recovered = [m for m in _thread(world, incident) if m.text.startswith("✅ Recovered")]
    assert len(recovered) == 1
    assert world.slack.message("C1", incident.ts).text.startswith(
        f"<!subteam^{ONCALL}> ✅ Recovered: 120")
    # The next failure of that cause is a new incident, paging again.
    _fail(world, "MSS.10001006")
    assert len(_pages(world)) == 3  # incident, the success's announcement, the new incident


def test_a_group_subscribed_while_an_incident_is_open_is_paged_once_in_its_thread(
        world: TrackingWorld):
    """A subscription made while an incident is open (``notify=@leads``, then another
    with a third group) pages its group for that incident once, with the incident's next
    failure it matches: a cc in the incident's thread, never a second page of a group
    paged before; the page's reminder then mentions every group it paged."""
    world = world.restart(incident_window_minutes=60)
    world.tracking.service.subscribe(ctx(), Subscribe("all", notify_group=ONCALL),
                                     world.clock())
    world.cycle()
    first = _fail(world)
    world.clock.advance(MINUTE)
    world.tracking.service.subscribe(ctx(), Subscribe("failed", notify_group=LEADS),
                                     world.clock())
    world.cycle()  # adopted: the first failure ended before it, so it is not told again
    _fail(world)
    _fail(world)
    world.tracking.service.subscribe(
        ctx(), Subscribe("failed", job_type=QueryJobType.VIDEO_2D, notify_group=THIRD),
        world.clock())
    world.cycle()
    _fail(world)
    world.cycle()
    [incident] = _pages(world)
    assert first in incident.marker
    assert incident.text.startswith(f"<!subteam^{ONCALL}> 🔥 Incident: 4 2D")
    paged = [m.text.split(" ❌")[0] for m in _thread(world, incident) if "subteam" in m.text]
    assert paged == [f"<!subteam^{LEADS}>", f"<!subteam^{THIRD}>"]  # each once

    world.clock.advance(16 * MINUTE)
    world.cycle()
    world.cycle()
    [repeat] = [m for m in _thread(world, incident) if "⏰" in m.text]
    assert all(f"<!subteam^{g}>" in repeat.text for g in (ONCALL, LEADS, THIRD))


def test_a_group_cc_d_into_an_incident_that_paged_nobody_is_reminded_too(
        world: TrackingWorld):
    """An incident opened by a subscription that pages nobody has no page until a
    ``notify=@leads`` subscription made since matches its next failure: the cc pages
    the group in the thread, and its reminders run from then, in that thread."""
    world = world.restart(incident_window_minutes=60)
    world.tracking.service.subscribe(ctx(), Subscribe("failed"), world.clock())
    world.cycle()
    _fail(world)
    world.clock.advance(MINUTE)
    world.tracking.service.subscribe(ctx(), Subscribe("failed", notify_group=LEADS),
                                     world.clock())
    world.cycle()
    _fail(world)
    world.cycle()
    [incident] = [m for m in world.slack.posts("C1") if m.metadata and not m.thread_ts]
    [cc] = [m for m in _thread(world, incident) if "subteam" in m.text]
    assert cc.text.startswith(f"<!subteam^{LEADS}>")

    world.clock.advance(16 * MINUTE)
    world.cycle()
    world.cycle()
    [repeat] = [m for m in _thread(world, incident) if "⏰" in m.text]
    assert f"<!subteam^{LEADS}>" in repeat.text


def test_a_stuck_announcement_that_pages_is_reminded_like_a_failure(world: TrackingWorld):
    """Every stuck announcement that mentions a group carries Acknowledge and Snooze, and
    is repeated and escalated the same way."""
    world.tracking.service.subscribe(
        ctx(), Subscribe("stuck", notify_group=ONCALL, escalate_group=LEADS), world.clock())
    world.sim.add_job(state="WAITING", create_time=world.clock() - timedelta(hours=3))
    world.cycle()
    [stuck] = [m for m in world.slack.posts("C1") if m.metadata]
    assert stuck.text.startswith(f"<!subteam^{ONCALL}> 🐢 1 job is stuck")
    assert set(_buttons(stuck)) == {actions.ACKNOWLEDGE, actions.SNOOZE}
    world.clock.advance(16 * MINUTE)
    world.cycle()
    world.cycle()
    assert [m.text.split(" ⏰")[0] for m in _thread(world, stuck)] == [f"<!subteam^{ONCALL}>"]
    key = _buttons(stuck)[actions.ACKNOWLEDGE]
    world.tracking.service.acknowledge(ctx(user="U7"), key, world.clock())
    world.clock.advance(30 * MINUTE)
    world.cycle()
    assert len(_thread(world, stuck)) == 1  # acknowledged: no escalation
