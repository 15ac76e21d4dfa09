"""Who may post, as a small pure model, against the real outbox (docs/delivery.md,
"Leases kept alive").

One channel with one notification; two or three senders claim it, keep their leases
alive, renew before a post, record it sent or give it back, and time passes. The model
says what each step must answer; the real store (SQLite and PostgreSQL) is driven
through the same steps and must answer the same. Two properties follow from the model
and are checked on the way:

- a sender's post is only made under a lease nobody else can take before it runs out,
  so two posts under two leases never overlap in time;
- a claim is "in doubt" (its attempts count above 0) exactly when an earlier claim began
  a post that Slack did not refuse outright, so whoever takes over a dead sender's row
  looks for its marker before posting, and posts a row the dead sender never began
  without looking (docs/delivery.md, "Why this never costs a double post").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from bot.tracking.delivery.outbox import Notification, Outbox, track_key
from bot.tracking.store.database import Store
from bot.tracking.store.tables import outbox as outbox_table
from bot.tracking.store.tables import outbox_channels
from tests.fixtures.tracking import FakeClock

LEASE = 3.0
SENDERS = ("A", "B", "C")
CHANNEL = "C1"


@dataclass
class Model:
    """The lease on the channel and its row (claimed, kept and renewed together)."""

    now: float = 0.0
    owner: str | None = None
    until: float = 0.0
    sent: bool = False
    #: Posts begun, over all claims (``Outbox.begin``), less those Slack refused.
    attempts: int = 0
    #: The owner began a post under its current claim (it may not give the row back
    #: untried); the first post of a claim counts an attempt, later ones only renew.
    posted: bool = False
    #: The last post's owner and the end of the lease it was made under.
    last_post: tuple[str, float] | None = None

    def free(self) -> bool:
        return not self.sent and (self.owner is None or self.until < self.now)

    def claim(self, sender: str) -> bool:
        if not self.free():
            return False
        self.owner, self.until, self.posted = sender, self.now + LEASE, False
        return True

    def keep(self, sender: str) -> None:
        if self.owner == sender and not self.sent:
            self.until = self.now + LEASE

    def renew(self, sender: str) -> bool:
        """Right before a post: True if ``sender`` may post."""
        if self.owner != sender or self.sent:
            return False
        self.until = self.now + LEASE
        return True


class LeaseMachine(RuleBasedStateMachine):
    store: Store  # set by the test

    def __init__(self) -> None:
        super().__init__()
        with self.store.begin() as conn:
            conn.execute(outbox_table.delete())
            conn.execute(outbox_channels.delete())
        self.clock = FakeClock()
        self.outbox = Outbox(self.store)
        with self.store.begin() as conn:
            self.outbox.enqueue(conn, kind="track", channel=CHANNEL,
                                dedupe_key=track_key(CHANNEL, "job-1", "SUCCEED"),
                                payload={"job": {"job_id": "job-1"}}, now=self.clock())
        self.model = Model()
        self.rows: dict[str, Notification] = {}

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=LEASE)

    @rule(seconds=st.sampled_from([0.5, 1.0, 2.0, 3.0, 3.5]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.model.now += seconds

    @rule(sender=st.sampled_from(SENDERS))
    def claim(self, sender: str) -> None:
        channels = self.outbox.claim_channels(sender, now=self.clock(), lease=self.lease,
                                              limit=50)
        rows = (self.outbox.claim(sender, now=self.clock(), lease=self.lease, channel=CHANNEL)
                if channels else [])
        expected = self.model.claim(sender)
        assert bool(rows) is expected
        if rows:
            [row] = rows
            self.rows[sender] = row
            assert row.attempts == self.model.attempts
            assert row.in_doubt is (self.model.attempts > 0)

    @rule(sender=st.sampled_from(SENDERS))
    def keep(self, sender: str) -> None:
        self.outbox.keep(sender, now=self.clock(), lease=self.lease)
        self.model.keep(sender)

    def _begin_or_renew(self, sender: str) -> bool:
        """Right before a post: the claim's first post begins (counted), later ones
        renew; True if ``sender`` may post."""
        row = self.rows.get(sender)
        first = not (self.model.owner == sender and self.model.posted)
        allowed = row is not None and (
            self.outbox.begin(sender, CHANNEL, row.id, now=self.clock(), lease=self.lease)
            if first else
            self.outbox.renew(sender, CHANNEL, [row.id], now=self.clock(), lease=self.lease))
        assert allowed is self.model.renew(sender)
        if allowed and first:
            self.model.attempts += 1
        return allowed

    @rule(sender=st.sampled_from(SENDERS))
    def refused(self, sender: str) -> None:
        """The claim's first post begins and Slack refuses it outright (a 429, a token
        error): nothing is in Slack, so the row goes back with its count taken back."""
        row = self.rows.get(sender)
        if row is None or self.model.owner != sender or self.model.posted:
            return
        if self._begin_or_renew(sender):
            self.outbox.release([row], sender, uncount={row.id})
            self.outbox.release_channel(CHANNEL, sender, hold_until=None)
            self.model.owner = None
            self.model.attempts -= 1

    @rule(sender=st.sampled_from(SENDERS))
    def post(self, sender: str) -> None:
        """Begin or renew right before the post; post only if that succeeded."""
        allowed = self._begin_or_renew(sender)
        if allowed:
            last = self.model.last_post
            if last is not None and last[0] != sender:
                # Another sender's post happened under a lease that has run out since.
                assert last[1] < self.model.now
            self.model.last_post = (sender, self.model.until)
            self.model.posted = True

    @rule(sender=st.sampled_from(SENDERS))
    def mark_sent(self, sender: str) -> None:
        """Record the post (a sender only does so after posting under its claim)."""
        row = self.rows.get(sender)
        if row is None or (self.model.owner == sender and not self.model.posted):
            return
        done = self.outbox.mark_sent(row, sender, "1.1", now=self.clock())
        assert done is (self.model.owner == sender and not self.model.sent)
        if done:
            self.model.sent, self.model.owner = True, None

    @rule(sender=st.sampled_from(SENDERS))
    def give_back(self, sender: str) -> None:
        """The pass ends before the row was tried: given back, nothing counted."""
        row = self.rows.get(sender)
        if row is None or self.model.owner != sender or self.model.posted or self.model.sent:
            return
        self.outbox.release([row], sender)
        self.outbox.release_channel(CHANNEL, sender, hold_until=None)
        self.model.owner = None

    @invariant()
    def one_owner_at_most(self) -> None:
        with self.store.begin() as conn:
            row = conn.execute(sa.select(outbox_table.c.lease_owner, outbox_table.c.status)
                               .where(outbox_table.c.kind == "track")).one()
        if self.model.sent:
            assert row.status == "sent"
        else:
            assert row.status == "pending"
            assert row.lease_owner == self.model.owner


def test_the_real_outbox_answers_as_the_lease_model_says(store: Store) -> None:
    LeaseMachine.store = store
    run_state_machine_as_test(LeaseMachine, settings=settings(
        max_examples=60, stateful_step_count=30, deadline=None))
