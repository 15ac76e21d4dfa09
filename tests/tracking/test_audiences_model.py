"""Who hears what, proven against a model (docs/delivery.md, "Who hears what").

A small pure reference (:class:`Model`) says, from the commands and job ends so far,
which deliveries must exist: to which destinations (a tracking thread, a channel, a
person's DMs), for which jobs, with which mentions. A hypothesis state machine drives
the real tracking service, poller, sender and the fake Slack through random sequences
of track (with and without ``notify=me``), untrack, subscribe (outcomes, a type filter,
``notify=@group``), unsubscribe, mute/unmute, ``settings broadcast``, single ends,
bursts of 1-30 ends in one poll, callbacks, a sender restart and Slack answering 429;
after every step that lets the bot deliver, Slack must hold exactly the model's
deliveries: each once, every required mention present, nothing else.

CI runs a bounded number of examples; ``VIDEOJOBS_MODEL_EXAMPLES=500`` runs more.
Shrunk failures are kept as plain tests at the end of this file.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from slack_sdk import WebClient

from bot.commands.types import ChannelSettings, Mute, Subscribe, Track, Unmute, Unsubscribe, Untrack
from bot.metastudio.auth import AkSkAuth
from bot.metastudio.client import MetaStudioClient
from bot.metastudio.query import QueryJobType
from bot.settings import Settings
from bot.simulator import Simulator
from bot.slack.messenger import SlackMessenger
from bot.wiring.tracking import build_tracking
from tests.fakes.slack import FakeSlack, Message
from tests.fixtures.tracking import AK, FAST_RETRY, FAST_TIMEOUTS, PROJECT_ID, SK, FakeClock
from tests.tracking.helpers import ctx

CHANNELS = ("C1", "C2")
USERS = ("U1", "U2")
GROUPS = ("S0ONCALL", "S0LEADS")
PAGED = {"FAILED", "BLOCK"}
OUTCOMES = {"failed": {"FAILED", "BLOCK"}, "finished": {"SUCCEED"},
            "all": {"SUCCEED", "FAILED", "CANCELED", "BLOCK"}}
TYPES = {"2d": "2D_DIGITAL_HUMAN_VIDEO", "photo": "PHOTO_DIGITAL_HUMAN_VIDEO"}
MENTION = re.compile(r"<!subteam\^(\w+)>|<@(\w+)>")


# -- the reference ----------------------------------------------------------------------

@dataclass
class ModelSub:
    channel: str
    outcome: str
    job_type: str | None
    groups: set[str]
    created_at: datetime


@dataclass
class Model:
    """What must have been delivered: destination -> job -> the mentions it carries.
    A destination is ("thread", channel), ("channel", channel) or ("dm", user)."""

    tracked: dict[tuple[str, str], str] = field(default_factory=dict)  # open: -> who
    ever_tracked: set[tuple[str, str]] = field(default_factory=set)  # (channel, job)
    watchers: set[tuple[str, str]] = field(default_factory=set)  # (user, job)
    subs: dict[int, ModelSub] = field(default_factory=dict)
    muted_all: set[str] = field(default_factory=set)
    muted_jobs: set[tuple[str, str]] = field(default_factory=set)
    job_types: dict[str, str] = field(default_factory=dict)
    ended: dict[str, str] = field(default_factory=dict)
    expected: dict[tuple[str, str], dict[str, set[str]]] = field(
        default_factory=lambda: defaultdict(dict))
    #: Open incidents: (channel, cause, job type) -> its id; and each incident's jobs and
    #: the groups its message pages (docs/oncall.md: one message per cause).
    incidents: dict[tuple[str, str, str], int] = field(default_factory=dict)
    incident_last: dict[int, datetime] = field(default_factory=dict)
    incident_jobs: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    incident_groups: dict[int, set[str]] = field(default_factory=dict)
    incident_channel: dict[int, str] = field(default_factory=dict)

    def _matching(self, channel: str, job: str, state: str, at: datetime) -> list[ModelSub]:
        return [s for s in self.subs.values() if s.channel == channel
                and state in OUTCOMES[s.outcome]
                and (s.job_type is None or TYPES[s.job_type] == self.job_types[job])
                and s.created_at.replace(microsecond=0) <= at]

    def _watching(self, channel: str, job: str, at: datetime) -> bool:
        """A subscription of ``channel`` sees the job, whatever its outcome."""
        return any(s.channel == channel
                   and (s.job_type is None or TYPES[s.job_type] == self.job_types[job])
                   and s.created_at.replace(microsecond=0) <= at for s in self.subs.values())

    def _muted(self, channel: str, job: str) -> bool:
        return channel in self.muted_all or (channel, job) in self.muted_jobs

    def end(self, job: str, state: str, at: datetime) -> None:
        self.ended[job] = state
        for (channel, tracked_job), who in list(self.tracked.items()):
            if tracked_job != job:
                continue
            groups: set[str] = set()
            if state in PAGED and not self._muted(channel, job):
                groups = {g for s in self._matching(channel, job, state, at) for g in s.groups}
            self.expected[("thread", channel)][job] = {f"@{who}", *groups}
            del self.tracked[(channel, job)]
        kind = self.job_types[job]
        if state == "SUCCEED":  # recovers the channel's open incidents of its type that
            for channel in CHANNELS:  # failed last before it ended (not with it)
                if self._watching(channel, job, at):
                    for key in [k for k in self.incidents if k[0] == channel and k[2] == kind
                                and self.incident_last[self.incidents[k]] < at]:
                        del self.incidents[key]
        for channel in CHANNELS:
            matching = self._matching(channel, job, state, at)
            if not matching or (channel, job) in self.ever_tracked or self._muted(channel, job):
                continue
            groups = {g for s in matching for g in s.groups} if state in PAGED else set()
            if state in PAGED:
                # The simulator fails jobs with one code: a cause is the state and type.
                cause = (channel, "BLOCK" if state == "BLOCK" else "MSS.00000004", kind)
                incident = self.incidents.get(cause)
                if incident is None:
                    incident = self.incidents[cause] = len(self.incident_groups) + 1
                    self.incident_groups[incident] = set()
                    self.incident_channel[incident] = channel
                # Paged once per incident, by its message; its lines mention nobody.
                self.incident_groups[incident] |= groups
                self.incident_last[incident] = at
                self.incident_jobs[incident].append(job)
                groups = set()
            self.expected[("channel", channel)][job] = groups
        for user, watched in list(self.watchers):
            if watched == job:
                self.expected[("dm", user)][job] = set()
                self.watchers.discard((user, watched))


# -- what Slack shows -------------------------------------------------------------------

def _mentions(message: Message) -> set[str]:
    return {f"@{user}" if user else group for group, user in MENTION.findall(message.text)}


def observed(slack: FakeSlack, jobs: list[str]) -> dict[tuple[str, str], dict[str, list[set[str]]]]:
    """destination -> job -> the mentions of each message that told it."""
    posts = slack.posts()
    tracking = {m.ts: m.channel for m in posts if m.metadata is None
                and m.text.startswith("Tracking")}
    notes = [m for m in posts if m.metadata]
    by_key = {m.marker: m for m in notes}
    seen: dict[tuple[str, str], dict[str, list[set[str]]]] = defaultdict(
        lambda: defaultdict(list))
    cc: list[tuple[tuple[str, str], str, set[str]]] = []
    for message in notes:
        key = message.marker
        if key.startswith(("recovered:", "repeat:", "escalate:")):
            continue  # on-call replies about a job told before, not a job's end
        if message.channel.startswith("U"):
            dest = ("dm", message.channel)
        elif message.thread_ts in tracking:
            dest = ("thread", message.channel)
        else:
            dest = ("channel", message.channel)
        shown = message.text + str(message.blocks)
        base = key.split("/")[0]
        summary = by_key.get(base.split("#")[0]) if "#" in base else None
        mentions = _mentions(summary or message)
        for job in jobs:
            if job not in shown:
                continue
            if "+" in base:  # a cc: more groups for a job told before
                cc.append((dest, job, mentions))
            else:
                seen[dest][job].append(mentions)
    for dest, job, mentions in cc:
        told = seen[dest][job]
        assert told, f"a cc for {job} at {dest} follows nothing"
        told[0] |= mentions
    return seen


# -- the machine ------------------------------------------------------------------------

class Audiences(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="videojobs-model-")
        self.clock = FakeClock()
        self.sim = Simulator(PROJECT_ID, ak=AK, sk=SK, clock=self.clock)
        self.handle = self.sim.serve()
        self.slack = FakeSlack().start()
        self.client = MetaStudioClient(self.handle.url, PROJECT_ID,
                                       AkSkAuth(AK, SK, PROJECT_ID, clock=self.clock),
                                       retry=FAST_RETRY, timeouts=FAST_TIMEOUTS)
        self.settings = Settings(database_url=f"sqlite:///{self.tmp}/bot.sqlite3",
                                 slack_bot_token=self.slack.token,
                                 slack_api_url=self.slack.url, poll_interval_seconds=30)
        self.messenger = SlackMessenger(WebClient(token=self.slack.token,
                                                  base_url=self.slack.url))
        self.tracking = self._build()
        self.model = Model()
        self.jobs: list[str] = []

    def _build(self) -> Any:
        return build_tracking(self.settings, self.client, self.messenger, clock=self.clock,
                              sleep=self.clock.sleep)

    def teardown(self) -> None:
        self.tracking.store.close()
        self.client.close()
        self.handle.stop()
        self.slack.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------

    def _open(self) -> list[str]:
        return [j for j in self.jobs if j not in self.model.ended]

    def _tick(self) -> None:
        self.clock.advance(1)

    def _settle(self) -> None:
        """Poll and send until nothing is pending (holds waited out on the clock)."""
        for _ in range(60):
            self.tracking.run_once()
            if not any(r.status == "pending" for r in self.tracking.outbox.rows()):
                return
            self.clock.advance(5)
        raise AssertionError("notifications still pending after 60 cycles")

    # -- rules ---------------------------------------------------------------------------

    @rule(kind=st.sampled_from(sorted(TYPES)))
    def new_job(self, kind: str) -> None:
        job = self.sim.add_job(state="PROCESSING", job_type=TYPES[kind])
        self.jobs.append(job)
        self.model.job_types[job] = TYPES[kind]
        self._tick()

    @precondition(lambda self: self._open())
    @rule(data=st.data(), channel=st.sampled_from(CHANNELS), user=st.sampled_from(USERS),
          notify_me=st.booleans())
    def track(self, data: st.DataObject, channel: str, user: str, notify_me: bool) -> None:
        jobs = data.draw(st.lists(st.sampled_from(self._open()), min_size=1, max_size=8,
                                  unique=True))
        self.tracking.service.track(ctx(channel, user), Track(tuple(jobs), notify_me),
                                    self.clock())
        # What the command did is its own contract (its tests): Slack may have refused
        # the tracking message (a 429 here), and then nothing is tracked.
        now_tracked = {t.job_id for t in self.tracking.store.channel_tracked(channel)}
        for job in jobs:
            if job not in now_tracked:
                continue
            if (channel, job) not in self.model.tracked:
                self.model.tracked[(channel, job)] = user
                self.model.ever_tracked.add((channel, job))
            if notify_me:
                self.model.watchers.add((user, job))
        self._tick()

    @precondition(lambda self: self.model.tracked)
    @rule(data=st.data())
    def untrack(self, data: st.DataObject) -> None:
        channel, job = data.draw(st.sampled_from(sorted(self.model.tracked)))
        self.tracking.service.untrack(ctx(channel), Untrack(job))
        del self.model.tracked[(channel, job)]
        self.model.ever_tracked.discard((channel, job))
        self._tick()

    @rule(channel=st.sampled_from(CHANNELS), outcome=st.sampled_from(sorted(OUTCOMES)),
          kind=st.sampled_from([None, "2d", "photo"]),
          group=st.sampled_from([None, *GROUPS]))
    def subscribe(self, channel: str, outcome: str, kind: str | None, group: str | None) -> None:
        job_type = QueryJobType(TYPES[kind]) if kind else None
        self.tracking.service.subscribe(
            ctx(channel), Subscribe(outcome, job_type=job_type, notify_group=group), self.clock())
        [sub] = [s for s in self.tracking.store.channel_subscriptions(channel)
                 if s.outcome == outcome and s.job_type == (str(job_type) if job_type else None)
                 and s.asset_name is None and s.script_id is None]
        known = self.model.subs.get(sub.id)
        if known is None:
            self.model.subs[sub.id] = ModelSub(channel, outcome, kind, {group} if group else set(),
                                               sub.created_at)
        elif group:
            known.groups = {group}  # notify= again changes whom it pages
        self._tick()

    @precondition(lambda self: self.model.subs)
    @rule(data=st.data())
    def unsubscribe(self, data: st.DataObject) -> None:
        sub_id = data.draw(st.sampled_from(sorted(self.model.subs)))
        channel = self.model.subs[sub_id].channel
        self.tracking.service.unsubscribe(ctx(channel), Unsubscribe(sub_id))
        del self.model.subs[sub_id]
        self._tick()

    @rule(data=st.data(), channel=st.sampled_from(CHANNELS), whole=st.booleans())
    def mute(self, data: st.DataObject, channel: str, whole: bool) -> None:
        job = None if whole or not self.jobs else data.draw(st.sampled_from(self.jobs))
        self.tracking.service.mute(ctx(channel), Mute(job, 24 * 3600), self.clock())
        if job is None:
            self.model.muted_all.add(channel)
        else:
            self.model.muted_jobs.add((channel, job))
        self._tick()

    @rule(channel=st.sampled_from(CHANNELS))
    def unmute(self, channel: str) -> None:
        self.tracking.service.unmute(ctx(channel), Unmute())
        self.model.muted_all.discard(channel)
        self.model.muted_jobs = {(c, j) for c, j in self.model.muted_jobs if c != channel}
        self._tick()

    @rule(channel=st.sampled_from(CHANNELS), value=st.sampled_from(["on", "off", "default"]))
    def broadcast(self, channel: str, value: str) -> None:
        self.tracking.service.settings(ctx(channel), ChannelSettings(value), self.clock())  # type: ignore[arg-type]

    @precondition(lambda self: self._open())
    @rule(data=st.data(), state=st.sampled_from(["SUCCEED", "FAILED", "CANCELED", "BLOCK"]),
          mixed=st.booleans())
    def burst(self, data: st.DataObject, state: str, mixed: bool) -> None:
        """1-30 jobs end in one poll (new ones are made if fewer are open)."""
        size = data.draw(st.integers(1, 30))
        while len(self._open()) < size and len(self.jobs) < 60:
            self.new_job("2d")
        ends = self._open()[:size]
        states = [data.draw(st.sampled_from(sorted(OUTCOMES["all"]))) if mixed else state
                  for _ in ends]
        with self.sim.store.lock:
            for job, end in zip(ends, states, strict=True):
                self.sim.set_state(job, end)
        at = self.clock().replace(microsecond=0)
        for job, end in zip(ends, states, strict=True):
            self.model.end(job, end, at)
        self._tick()
        self._settle()

    @precondition(lambda self: self._open())
    @rule(data=st.data(), state=st.sampled_from(["SUCCEED", "FAILED"]))
    def callback(self, data: st.DataObject, state: str) -> None:
        """MetaStudio's push: the job is looked up and its end recorded at once."""
        job = data.draw(st.sampled_from(self._open()))
        self.sim.set_state(job, state)
        self.model.end(job, state, self.clock().replace(microsecond=0))
        self.tracking.poller.observe(job)
        self.tracking.sender.send_due()
        self._tick()
        self._settle()

    @rule()
    def restart(self) -> None:
        self.tracking.store.close()
        self.tracking = self._build()

    @rule(times=st.integers(1, 3))
    def slack_429(self, times: int) -> None:
        self.slack.rate_limit("chat.postMessage", retry_after=2, times=times)

    # -- the check ---------------------------------------------------------------------------

    @invariant()
    def slack_holds_exactly_the_models_deliveries(self) -> None:
        if any(r.status == "pending" for r in self.tracking.outbox.rows()):
            return  # checked once the bot has been given the chance to deliver
        seen = observed(self.slack, self.jobs)
        expected = self.model.expected
        assert {d: set(j) for d, j in seen.items() if j} == \
            {d: set(j) for d, j in expected.items() if j}, "who was told of which job"
        for dest, jobs in expected.items():
            for job, mentions in jobs.items():
                told = seen[dest][job]
                assert len(told) == 1, f"{job} told {len(told)} times at {dest}"
                assert mentions <= told[0], f"{job} at {dest}: {told[0]} lacks {mentions}"
            every = set().union(*jobs.values()) if jobs else set()
            if dest[0] == "channel":
                every |= {g for i, c in self.model.incident_channel.items() if c == dest[1]
                          for g in self.model.incident_groups[i]}
            for job in jobs:
                assert seen[dest][job][0] <= every, \
                    f"{job} at {dest} mentions {seen[dest][job][0] - every}: nobody asked"
        for incident, jobs_of in self.model.incident_jobs.items():
            channel = self.model.incident_channel[incident]
            told = set().union(*(seen[("channel", channel)][j][0] for j in jobs_of))
            paged = self.model.incident_groups[incident]
            assert paged <= told, f"incident {incident} in {channel} never paged {paged}"
        assert not [r for r in self.tracking.outbox.rows() if r.status == "failed"]

    @invariant()
    def finished_tracking_messages_say_so(self) -> None:
        if any(r.status == "pending" for r in self.tracking.outbox.rows()):
            return
        for message in self.slack.posts():
            if message.metadata is None and message.text.startswith("Tracking"):
                listed = [j for j in self.jobs if j in str(message.blocks)]
                if listed and all(j in self.model.ended for j in listed):
                    ours = [j for j in listed if any(
                        (message.channel, j) in self.model.ever_tracked for _ in [0])]
                    if ours:
                        assert "all finished" in message.text, message.text


EXAMPLES = int(os.environ.get("VIDEOJOBS_MODEL_EXAMPLES", "12"))
Audiences.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=14, deadline=None,
    suppress_health_check=list(HealthCheck))
test_who_hears_what_matches_the_model = pytest.mark.slow(Audiences.TestCase)


# -- shrunk failures, kept as plain tests ------------------------------------------------------


def _run(steps: list[tuple[str, dict[str, Any]]]) -> None:
    machine = Audiences()
    try:
        for name, args in steps:
            getattr(machine, name)(**args)
            machine.slack_holds_exactly_the_models_deliveries()
            machine.finished_tracking_messages_say_so()
    finally:
        machine.teardown()


class _Data:
    """A stand-in for hypothesis's ``data`` that draws the first choice (or a fixed one)."""

    def __init__(self, *values: Any) -> None:
        self.values = list(values)

    def draw(self, strategy: Any) -> Any:
        return self.values.pop(0)


def test_a_burst_of_failures_pages_the_subscribed_group() -> None:
    """Issue #21, 1: eight failures in one poll page the group (they were one silent
    digest)."""
    machine = Audiences()
    try:
        machine.subscribe("C1", "failed", None, "S0ONCALL")
        machine.burst(_Data(8), "FAILED", False)
        machine.slack_holds_exactly_the_models_deliveries()
        # One cause: one incident message paging the group once; the seven other
        # failures, found by the same poll, one reply with a line each.
        [incident] = [m for m in machine.slack.posts("C1") if m.metadata
                      and m.thread_ts is None]
        assert incident.text.startswith("<!subteam^S0ONCALL> 🔥 Incident: 8 2D")
        [reply] = machine.slack.thread("C1", incident.ts)
        assert len(reply.text.splitlines()) == 7 and "subteam" not in reply.text
    finally:
        machine.teardown()


def test_a_second_subscription_in_the_channel_adds_its_group() -> None:
    """Issue #21, 2: ``subscribe all`` then ``subscribe failed notify=@oncall``: the
    failure pages the group whichever subscription came first."""
    machine = Audiences()
    try:
        machine.subscribe("C1", "all", None, None)
        machine.subscribe("C1", "failed", None, "S0ONCALL")
        machine.new_job("2d")
        machine.callback(_Data(machine.jobs[0]), "FAILED")
        machine.slack_holds_exactly_the_models_deliveries()
        [told] = [m for m in machine.slack.posts("C1") if m.metadata]
        assert told.text.startswith("<!subteam^S0ONCALL> ❌")
    finally:
        machine.teardown()


def test_tracked_jobs_ending_together_stay_in_their_thread() -> None:
    """Issue #21, 3: 26 jobs of one tracking message with notify=me: one digest in the
    thread mentioning who tracked them, one DM digest, and "all finished" last."""
    machine = Audiences()
    try:
        for _ in range(26):
            machine.new_job("2d")
        machine.track(_Data(list(machine.jobs)), "C1", "U1", True)
        machine.burst(_Data(26), "SUCCEED", False)
        machine.slack_holds_exactly_the_models_deliveries()
        machine.finished_tracking_messages_say_so()
        top = [m for m in machine.slack.posts("C1") if m.thread_ts is None]
        assert len(top) == 1 and "all finished" in top[0].text
        [dm] = [m for m in machine.slack.posts("U1") if "jobs finished" in m.text]
        assert dm.text.startswith("You asked me to tell you: 26 jobs finished")
    finally:
        machine.teardown()


def test_a_tracked_failure_pages_its_channels_subscribed_group_in_the_thread() -> None:
    """A channel that tracks a job hears of it in the tracking thread, never also as an
    announcement; that reply pages the groups the announcement would have paged."""
    machine = Audiences()
    try:
        machine.subscribe("C1", "failed", None, "S0ONCALL")
        machine.new_job("2d")
        machine.track(_Data([machine.jobs[0]]), "C1", "U2", False)
        machine.burst(_Data(1), "FAILED", False)
        machine.slack_holds_exactly_the_models_deliveries()
        [reply] = [m for m in machine.slack.posts("C1") if m.metadata]
        assert reply.thread_ts is not None  # in the tracking thread, not an announcement
        assert reply.text.startswith("<!subteam^S0ONCALL> <@U2> ❌")
    finally:
        machine.teardown()


def test_a_group_subscribed_while_an_incident_is_open_is_paged_by_its_next_failure() -> None:
    """A subscription made while an incident is open (``notify=@leads``): the incident's
    next failure, which it matches, is a line in the incident's thread and pages nobody,
    so its group was never paged for the incident at all. It is paged once, by a cc in
    the incident's thread. (The unsubscribe only moves the clock on a second: the first
    failure ended before the new subscription, so that subscription does not adopt it.)"""
    machine = Audiences()
    try:
        machine.subscribe("C1", "all", None, "S0ONCALL")
        machine.burst(_Data(1), "FAILED", False)
        machine.unsubscribe(_Data(1))
        machine.subscribe("C1", "failed", None, "S0LEADS")
        machine.burst(_Data(1), "FAILED", False)
        machine.slack_holds_exactly_the_models_deliveries()
        [incident] = [m for m in machine.slack.posts("C1") if m.metadata
                      and m.thread_ts is None]
        assert incident.text.startswith("<!subteam^S0ONCALL> 🔥 Incident: 2 2D")
        thread = machine.slack.thread("C1", incident.ts)
        assert [m for m in thread if "subteam" in m.text and "S0LEADS" in m.text]
        assert not [m for m in thread if "S0ONCALL" in m.text]  # paged once, above
    finally:
        machine.teardown()
