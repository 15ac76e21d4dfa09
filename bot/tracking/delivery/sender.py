"""The sender: delivers due outbox rows to Slack, exactly once as far as the channel sees.

A pass leases channels (oldest waiting first, a bounded number), then each channel's due
rows (more than ``digest_threshold`` fresh ones become one digest whose thread holds the
details). It posts round-robin across its channels, each paced by a token bucket at
Slack's ~1 message per second, so a flooded channel never delays the others. Right
before every post both leases (channel and row) are checked, and renewed in the
database unless just claimed: a sender that lost them posts nothing. What Slack
answers decides the rest:

- :class:`RateLimited`: the whole channel is held until ``Retry-After``, in the database,
  so every sender honours it, for rows claimed or not.
- :class:`ImageRejected` and :class:`MessageTooLong` never reach the sender: the row's
  delivery (:mod:`.rows`) sends the cover as a link, or the message in parts.
- :class:`ChannelUnavailable`: the channel's tracking and subscriptions are paused with
  the reason, its waiting rows fail; nothing is retried forever.
- :class:`WorkspaceUnavailable`: the token itself is refused. Delivery pauses for every
  sender (rows stay pending, untouched), the log names SLACK_BOT_TOKEN, and ``auth.test``
  is probed at a capped interval until it works again.
- :class:`TransientDeliveryError`: capped exponential backoff with jitter, the channel
  held meanwhile; given up only after ``give_up_after`` (hours, not tries).

Idempotence: a claimed row whose earlier attempt may have posted (``in_doubt``) is first
looked for by its marker (:mod:`.marking`); a found message is recorded, not posted
again. The tracking-message edit that follows a post is idempotent by nature.
The design, in prose: ``docs/delivery.md``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ...domain.explain import Reason
from ...domain.messaging import (
    ChannelUnavailable,
    DeliveryError,
    RateLimited,
    TransientDeliveryError,
    WorkspaceUnavailable,
)
from ...domain.runbook import DEFAULT, Runbook
from ...metastudio.models import Job
from ...telemetry.metrics import NOTIFICATIONS, OUTBOX_DEPTH
from ..store.database import Store
from ..store.leases import KeepAlive
from .covers import CoverUploader
from .marking import MarkedMessenger
from .outbox import Notification, Outbox
from .pacing import ChannelPacer
from .pages import INCIDENT_LINE
from .pause import WorkspacePause
from .reasons import no_reasons
from .rows import FOLDABLE, Deliverer, Renderer, RowDelivery, Steps, destination, digest_payload

log = logging.getLogger(__name__)

#: What a pause reason tells the channel (``tracked`` shows it).
PAUSE_HINT = "the bot cannot post here; invite it with /invite @videojobs and track again"

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass
class SendResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0


@dataclass(frozen=True)
class SenderPolicy:
    broadcast_failures: bool = True
    digest_threshold: int = 5
    #: Renewed before every post and, with ``keep_alive``, every third of it while a
    #: pass runs: a dead sender's channels and rows wait this long at most. Without the
    #: keep-alive it has to outlast one Slack call (whose timeout is shorter, see
    #: ``bot.slack.messenger.CALL_TIMEOUT``).
    lease: timedelta = timedelta(seconds=60)
    #: Renew this sender's leases every third of ``lease`` (real time) while a pass
    #: runs (docs/delivery.md, "Leases kept alive"); and every sixth of ``lease`` of a
    #: pass, take more channels up to this sender's fair share (a dead sender's, once
    #: their leases ran out), not only at the start of the next pass.
    keep_alive: bool = False
    #: Channels one pass leases, and rows per channel: a flood in one channel cannot
    #: crowd the others out of a pass.
    channels_per_pass: int = 50
    rows_per_channel: int = 500
    #: How long a pass may wait on pacing before it gives its remaining rows back.
    pass_budget: timedelta = timedelta(seconds=30)
    #: Posts per second per channel (Slack: about one).
    channel_rate: float = 1.0
    backoff: timedelta = timedelta(seconds=5)
    max_backoff: timedelta = timedelta(minutes=5)
    #: Transient failures are retried this long after the notification was written.
    give_up_after: timedelta = timedelta(hours=24)
    #: While the workspace refuses the token: first ``auth.test`` probe after
    #: ``probe_every``, doubling up to ``max_probe_every``; the ERROR is repeated every
    #: ``pause_log_every``.
    probe_every: timedelta = timedelta(seconds=5)
    max_probe_every: timedelta = timedelta(minutes=5)
    pause_log_every: timedelta = timedelta(minutes=15)


@dataclass
class _Turn:
    """One leased channel during a pass: its rows and the one being delivered."""

    channel: str
    rows: deque[Notification]
    row: Notification | None = None
    steps: Steps | None = None
    started: bool = False
    stopped: bool = False
    #: A post of ``row`` was under way when the pass was cut short (a crash, a
    #: database error): it may be in Slack.
    in_flight: bool = False
    #: Until when this sender's leases on the channel and on the rows in ``fresh``
    #: (claimed or renewed together) are known to hold.
    leased_until: datetime = _NEVER
    fresh: set[int] = field(default_factory=set)
    #: Rows whose attempt this claim counted (``Outbox.begin``, right before their
    #: first post): only these can be in Slack because of this pass.
    counted: set[int] = field(default_factory=set)


class _StopPass(Exception):
    """The workspace refused the token: the whole pass stops."""


class Sender:
    """Delivers the outbox. ``owner`` names this process in leases; ``clock`` returns
    aware UTC datetimes and ``sleep`` waits on the same timeline (tests inject both);
    ``rng`` draws the backoff jitter in [0, 1)."""

    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        messenger: MarkedMessenger,
        *,
        owner: str,
        clock: Callable[[], datetime],
        policy: SenderPolicy = SenderPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        renderers: Mapping[str, Renderer] | None = None,
        covers: CoverUploader | None = None,
        runbook: Runbook = DEFAULT,
        quota_warning: Callable[[], str | None] = lambda: None,
        can_cancel: bool = False,
        can_retry: bool = False,
        reasons: Callable[[Job], tuple[Reason, ...]] = no_reasons,
        escalate_after: timedelta = timedelta(minutes=15),
        deliverers: Mapping[str, Deliverer] | None = None,
        senders: Callable[[], int] = lambda: 1,
    ) -> None:
        self.store = store
        #: How many senders are alive now: this one claims its fair share of channels.
        self.senders = senders
        self.outbox = outbox
        self.messenger = messenger
        self.owner = owner
        self.clock = clock
        self.policy = policy
        #: What each row posts (.rows); the sender only decides when, and in what order.
        self.rows = RowDelivery(
            store, outbox, messenger, owner=owner, clock=clock,
            broadcast_default=policy.broadcast_failures, renderers=renderers, covers=covers,
            runbook=runbook, quota_warning=quota_warning, can_cancel=can_cancel,
            can_retry=can_retry, reasons=reasons, escalate_after=escalate_after,
            deliverers=deliverers)
        self.sleep = sleep
        self.rng = rng
        self.pacer = ChannelPacer(policy.channel_rate)
        #: Set when the process is stopping (``run_worker`` sets it): pacing waits on it
        #: instead of ``sleep``, and a pass ends at once, giving its rows back.
        self.stopping: threading.Event | None = None
        #: Called between posts every sixth of the lease while a pass runs (the worker
        #: loop polls there when a poll is due: bot/tracking/process/worker.py).
        self.meanwhile: Callable[[], None] | None = None
        #: Ends the leases of dead processes (store/presence.py ``reap``), called before
        #: each claim of channels; set by ``run_worker`` on PostgreSQL. A sender that
        #: reaps holds a presence lock itself, so others may end its leases early too:
        #: it then renews before every post (:meth:`_hold_leases`).
        self.reap: Callable[[datetime], object] | None = None
        self.workspace = WorkspacePause(
            outbox, getattr(messenger, "probe", None), probe_every=policy.probe_every,
            max_probe_every=policy.max_probe_every, log_every=policy.pause_log_every)

    # -- a pass -------------------------------------------------------------------------

    def send_due(self) -> SendResult:
        """One pass over the rows due now."""
        result = SendResult()
        self.rows.new_pass()
        if not self.workspace.allows_delivery(self.clock()):
            return result
        now = self.clock()
        turns: list[_Turn] = []
        keeper = self._keep_alive()
        try:
            self._reap(now)
            channels = self.outbox.claim_channels(self.owner, now=now, lease=self.policy.lease,
                                                  limit=self.policy.channels_per_pass,
                                                  senders=max(1, self._live()))
        except BaseException:
            if keeper is not None:
                keeper.stop()
            raise
        try:
            for channel in channels:
                rows = self.outbox.claim(self.owner, now=now, lease=self.policy.lease,
                                         limit=self.policy.rows_per_channel, channel=channel)
                batch = self._with_digest(rows, now, channel)
                turns.append(_Turn(channel, deque(batch), leased_until=now + self.policy.lease,
                                   fresh={r.id for r in batch}))
            self._run(turns, channels, now + self.policy.pass_budget, result)
        except _StopPass:
            pass
        finally:
            # Also after a database error: give back what can be given back, so the
            # rows do not wait for their leases to run out (best effort: the database
            # may still be away, and then the short leases expire by themselves).
            self._finish(turns, channels)
            if keeper is not None:
                keeper.stop()
        OUTBOX_DEPTH.set(self.outbox.depth())
        return result

    def _keep_alive(self) -> KeepAlive | None:
        """With ``policy.keep_alive``: a thread renewing this sender's leases every third
        of the lease until the pass ends, so they outlast a slow Slack call while the
        process lives and run out a lease after it dies."""
        if not self.policy.keep_alive:
            return None
        lease = self.policy.lease
        return KeepAlive(lambda: self.outbox.keep(self.owner, now=self.clock(), lease=lease),
                         lease.total_seconds() / 3, name="sender-leases").start()

    def _reap(self, now: datetime) -> None:
        if self.reap is None:
            return
        try:
            self.reap(now)
        except Exception:
            log.warning("could not look for dead senders; their leases run out by themselves",
                        exc_info=True)

    def _live(self) -> int:
        try:
            return self.senders()
        except Exception:
            log.warning("could not count the live senders; taking any channel", exc_info=True)
            return 1

    def next_due_in(self) -> float | None:
        """Seconds until a pending notification may be posted (0 if one may now); None
        when nothing waits or delivery is paused. A held channel (pacing, Retry-After)
        is due when its hold ends, so whoever runs the sender can wake then instead of
        at the next poll (docs/delivery.md, "Waking at the earliest hold")."""
        now = self.clock()
        if not self.workspace.allows_delivery(now):
            return None
        due = self.outbox.next_due()
        return None if due is None else max(0.0, (due - now).total_seconds())

    def _run(self, turns: list[_Turn], channels: list[str], deadline: datetime,
             result: SendResult) -> None:
        tick = self.policy.lease / 6  # twice per keep-alive beat
        top_up_at = self.clock() + tick
        while True:
            now = self.clock()
            if now >= top_up_at:
                top_up_at = now + tick
                self._between(turns, channels, now)
            active = [t for t in turns if not t.stopped and (t.steps is not None or t.rows)]
            if not active:
                return
            stamp = now.timestamp()
            turn = min(active, key=lambda t: self.pacer.ready_at(t.channel, stamp))
            wait = self.pacer.ready_at(turn.channel, stamp) - stamp
            if wait >= 0.001:  # below a millisecond is float rounding, not a wait
                if now + timedelta(seconds=wait) > deadline:
                    return  # _finish gives the rest back for the next pass
                if self.stopping is not None:
                    if self.stopping.wait(wait):
                        return  # the process is stopping: give the rest back now
                    continue
                self.sleep(wait)
                if self.clock() <= now:
                    log.error("sleep(%g) did not move the sender's clock; pass ended", wait)
                    return
                continue
            if turn.steps is None:
                # Rows are started only when their channel's turn comes: what comes
                # before the post (marker look-ups, a cover upload) then happens under
                # fresh leases, not after the other channels' work.
                if not self._hold_leases(turn, now, turn.rows[0]):
                    self._lost(turn, turn.rows[0])
                    continue
                self._next_row(turn, result)
                if turn.steps is None:
                    continue  # nothing left to post (found by its marker, or failed)
                now = self.clock()
            assert turn.row is not None
            if not self._may_post(turn, now, turn.row):
                self._lost(turn, turn.row)
                continue
            self._resume(turn, result)
            # Paced from the answer, not the request: Slack counts a post when it
            # arrives, somewhere in between, so only this spacing is safe from 429s.
            self.pacer.take(turn.channel, self.clock().timestamp())

    def _between(self, turns: list[_Turn], channels: list[str], now: datetime) -> None:
        if self.meanwhile is not None:
            try:
                self.meanwhile()
            except Exception:
                log.exception("tracking cycle failed; trying again next cycle")
        if self.policy.keep_alive:
            self._top_up(turns, channels, self.clock())

    def _top_up(self, turns: list[_Turn], channels: list[str], now: datetime) -> None:
        """Mid-pass: lease more channels up to this sender's fair share (a dead
        sender's channels once their leases ran out, or channels that came due), so a
        long pass does not keep them waiting until it ends."""
        room = self.policy.channels_per_pass - len(channels)
        if room <= 0:
            return
        self._reap(now)
        more = self.outbox.claim_channels(self.owner, now=now, lease=self.policy.lease,
                                          limit=room, senders=max(1, self._live()),
                                          holding=sum(1 for t in turns if not t.stopped
                                                      and (t.steps is not None or t.rows)))
        for channel in more:
            if channel in channels:
                continue  # already this pass's: its new rows wait for the next pass
            channels.append(channel)
            rows = self.outbox.claim(self.owner, now=now, lease=self.policy.lease,
                                     limit=self.policy.rows_per_channel, channel=channel)
            batch = self._with_digest(rows, now, channel)
            turns.append(_Turn(channel, deque(batch), leased_until=now + self.policy.lease,
                               fresh={r.id for r in batch}))

    def _lost(self, turn: _Turn, row: Notification) -> None:
        log.warning("lease on %s lost before posting; leaving %s to its new owner",
                    row.dedupe_key, turn.channel)
        self._abandon(turn)

    def _hold_leases(self, turn: _Turn, now: datetime, row: Notification) -> bool:
        """Before a post (and before the work that leads to it): True while this sender
        holds the channel's and ``row``'s leases. Renewed in the database (which
        re-checks the owner) unless the last claim or renewal, moments ago, left more
        than half the lease: nobody can take a lease before it runs out, so the
        database could only answer yes. Not for a sender that reaps: its own leases
        may be ended early, should its presence lock go (store/presence.py)."""
        if (row.id in turn.fresh and self.reap is None
                and now + self.policy.lease / 2 < turn.leased_until):
            return True
        if not self.outbox.renew(self.owner, turn.channel, [row.id], now=now,
                                 lease=self.policy.lease):
            return False
        turn.leased_until, turn.fresh = now + self.policy.lease, {row.id}
        return True

    def _may_post(self, turn: _Turn, now: datetime, row: Notification) -> bool:
        """Right before a post: :meth:`_hold_leases`, and before the row's first post
        under this claim, count its attempt with the leases renewed
        (``Outbox.begin``). Counting here, not at the claim, is what lets a sender
        that takes over a dead one's rows post those never begun without looking
        for them in Slack first (docs/delivery.md, "Why this never costs a double
        post")."""
        if row.id in turn.counted:
            return self._hold_leases(turn, now, row)
        if not self.outbox.begin(self.owner, turn.channel, row.id, now=now,
                                 lease=self.policy.lease):
            return False
        turn.counted.add(row.id)
        turn.leased_until, turn.fresh = now + self.policy.lease, {row.id}
        return True

    def _next_row(self, turn: _Turn, result: SendResult) -> None:
        """Start the channel's next rows until one has a post to make (or none is left)."""
        while turn.steps is None and turn.rows and not turn.stopped:
            turn.row = turn.rows.popleft()
            turn.steps, turn.started = self.rows.deliver(turn.row), False
            self._resume(turn, result)

    def _resume(self, turn: _Turn, result: SendResult) -> None:
        """Run the current row up to its next post, or to its end, and act on the end."""
        row, steps = turn.row, turn.steps
        assert row is not None and steps is not None
        first = not turn.started
        turn.started = True
        turn.in_flight = not first
        try:
            next(steps) if first else steps.send(None)
        except StopIteration as done:
            turn.steps = None
            self._sent(row, done.value, result)
        except RateLimited as e:
            turn.steps = None
            self._rate_limited(turn, row, e, result)
        except ChannelUnavailable as e:
            turn.steps = None
            reason = f"{e.error or e}: {PAUSE_HINT}"
            log.warning("pausing channel %s: %s", turn.channel, reason)
            self.outbox.pause_channel(turn.channel, reason)
            NOTIFICATIONS.labels(result="paused").inc(1 + len(turn.rows))
            result.failed += 1 + len(turn.rows)
            turn.rows.clear()
            turn.stopped = True
        except WorkspaceUnavailable as e:
            turn.steps, turn.row, turn.in_flight = None, None, False
            self._pause_workspace(e, row, counted=row.id in turn.counted)
            raise _StopPass from e
        except TransientDeliveryError as e:
            turn.steps = None
            self._backoff(turn, row, e, result)
        except DeliveryError as e:
            turn.steps = None
            log.error("notification %s refused by Slack, giving up: %s", row.dedupe_key, e)
            self.outbox.fail(row, self.owner, str(e))
            NOTIFICATIONS.labels(result="failed").inc()
            result.failed += 1
        else:
            turn.in_flight = False
            return  # paused right before its next post
        turn.in_flight = False
        turn.row = None

    def _sent(self, row: Notification, ts: str, result: SendResult) -> None:
        if self.outbox.mark_sent(row, self.owner, ts, now=self.clock()):
            NOTIFICATIONS.labels(result="sent").inc()
            result.sent += 1
        else:
            log.warning("lease on %s expired before it was marked sent", row.dedupe_key)

    def _rate_limited(
        self, turn: _Turn, row: Notification, e: RateLimited, result: SendResult
    ) -> None:
        # Slack's Retry-After holds for the whole channel: every pending row of it, in
        # this pass or not, and rows written meanwhile (the hold is in the database).
        at = self.clock() + timedelta(seconds=e.retry_after)
        waiting = [row, *turn.rows]
        log.info("Slack rate-limits %s: its notifications wait %.0f s", turn.channel,
                 e.retry_after)
        self.outbox.hold_channel(turn.channel, at, f"Retry-After: {e}")
        for held in waiting:
            # Refused or never tried: not an attempt, so no marker look-up next time
            # (unless part of the row was posted before the 429).
            self.outbox.reschedule(held, self.owner, at=at, error=str(e), failure=False,
                                   uncount=held.id in turn.counted
                                   and not self.rows.has_posted(held))
        NOTIFICATIONS.labels(result="retried").inc(len(waiting))
        result.retried += len(waiting)
        turn.rows.clear()
        turn.stopped = True

    def _backoff(
        self, turn: _Turn, row: Notification, error: Exception, result: SendResult
    ) -> None:
        now = self.clock()
        if now - row.created_at >= self.policy.give_up_after:
            log.error("notification %s still failing after %s, giving up: %s",
                      row.dedupe_key, now - row.created_at, error)
            self.outbox.fail(row, self.owner, f"gave up after {row.failures + 1} attempts "
                                              f"over {now - row.created_at}: {error}")
            NOTIFICATIONS.labels(result="failed").inc()
            result.failed += 1
            return
        delay = self.backoff_delay(row.failures + 1)
        log.warning("notification %s: %s; retrying in %s", row.dedupe_key, error, delay)
        self.outbox.reschedule(row, self.owner, at=now + delay, error=str(error), failure=True)
        # The channel's other rows would only meet the same failure: they wait as long.
        self.outbox.hold_channel(turn.channel, now + delay, f"backoff: {error}")
        self.outbox.release(list(turn.rows), self.owner)
        turn.rows.clear()
        turn.stopped = True
        NOTIFICATIONS.labels(result="retried").inc()
        result.retried += 1

    def backoff_delay(self, failures: int) -> timedelta:
        """The wait after the ``failures``-th transient failure in a row: doubling from
        ``backoff``, capped at ``max_backoff``, the upper half drawn at random so senders
        that failed together do not all come back together."""
        base = self.policy.backoff.total_seconds()
        cap = self.policy.max_backoff.total_seconds()
        delay = min(cap, base * 2 ** min(failures - 1, 62))
        return timedelta(seconds=delay / 2 + delay / 2 * self.rng())

    def _abandon(self, turn: _Turn) -> None:
        """The leases are gone: stop without touching rows that are someone else's."""
        if turn.steps is not None:
            turn.steps.close()
        turn.steps, turn.row = None, None
        turn.rows.clear()
        turn.stopped = True

    def _finish(self, turns: list[_Turn], channels: list[str]) -> None:
        """Give back unsent rows and let go of the channels, leaving each held until its
        pacing allows the next post."""
        try:
            for turn in turns:
                if turn.row is not None:  # cut short while delivering it
                    if turn.steps is not None:
                        turn.steps.close()
                    if turn.in_flight or self.rows.has_posted(turn.row):
                        # It may be (partly) in Slack: due again, in doubt, so its
                        # markers are looked for before anything is posted again.
                        self.outbox.reschedule(turn.row, self.owner, at=self.clock(),
                                               error="pass ended", failure=False)
                    else:
                        turn.rows.appendleft(turn.row)
                    turn.steps = None
                # A row begun whose posts Slack all refused (its size) has nothing in
                # Slack: its count is taken back too.
                self.outbox.release(list(turn.rows), self.owner, uncount=turn.counted)
                turn.rows.clear()
            now = self.clock().timestamp()
            for channel in channels:
                free = self.pacer.next_free(channel, now)
                hold = None if free is None else datetime.fromtimestamp(free, self.clock().tzinfo)
                self.outbox.release_channel(channel, self.owner, hold_until=hold)
        except Exception:
            log.warning("could not give back this pass's notifications; their leases "
                        "(%s) will run out", self.policy.lease, exc_info=True)

    # -- the workspace-wide pause (bot/tracking/delivery/pause.py) ---------------------------------

    def _pause_workspace(self, error: WorkspaceUnavailable, row: Notification, *,
                         counted: bool) -> None:
        """Pause every sender; the row that met the refusal goes back untouched (its
        attempt, if ``counted``, taken back) unless part of it was posted."""
        now = self.clock()
        reason = str(error.error or error)
        if not self.rows.has_posted(row):
            self.outbox.release([row], self.owner, uncount={row.id} if counted else ())
        else:
            self.outbox.reschedule(row, self.owner, at=now, error=reason, failure=False)
        self.workspace.start(reason, now)

    # -- digests ----------------------------------------------------------------------------

    def _with_digest(self, group: list[Notification], now: datetime,
                     channel: str) -> list[Notification]:
        """Fold a burst into one digest per destination: the ends of one tracking
        message become one reply in its thread, a channel's announcements one channel
        digest, a person's DMs one DM (docs/delivery.md, "Who hears what"). Only job
        ends never begun are folded (a dead sender's untried rows too): one begun before
        may already be in Slack on its own.

        Rows that waited on the channel's pace (written before its last hold ended)
        fold too when there are a few: one message for each destination instead of one
        a second each, so ends coming faster than Slack's pace do not queue
        (docs/delivery.md, "Folding what waits on the pace"). An incident's failures
        claimed together are always one reply in its thread, a line each."""
        waited = self._waited_on_pace(group, channel)
        # Incidents stand alone: one message per cause, its failures in its thread.
        fresh = [r for r in group if r.kind in FOLDABLE and r.attempts == 0
                 and "incident" not in r.payload]
        bursts: dict[tuple[str, str | None], list[Notification]] = {}
        for row in fresh:
            bursts.setdefault(destination(row), []).append(row)
        for row in group:
            if row.kind == INCIDENT_LINE and row.attempts == 0:
                bursts.setdefault((INCIDENT_LINE, str(row.payload["incident"])), []).append(row)
        out = list(group)
        for (where, incident), members in bursts.items():
            if where == INCIDENT_LINE:
                extra = {"incident": int(incident or 0), "lines": True}
            elif len(members) > self.policy.digest_threshold:
                extra = digest_payload(members)
            elif any(waited(m) for m in members):
                extra = {**digest_payload(members), "compact": True}
            else:
                continue
            if len(members) < 2:
                continue
            # The digest goes where its oldest member was (the group is oldest first): a
            # digest or retry still owed from before this burst is posted first.
            at = out.index(members[0])
            digest = self.outbox.form_digest(self.owner, members, now=now,
                                             lease=self.policy.lease, payload=extra)
            folded = {r.id for r in members}
            out = [r for r in out if r.id not in folded]
            if digest is not None:
                out.insert(at, digest)
        return out

    def _waited_on_pace(self, group: list[Notification],
                        channel: str) -> Callable[[Notification], bool]:
        """Whether a row was written before the channel's last hold (its pace after a
        post, a Retry-After, a backoff) ended: it waited on Slack, not on a poll."""
        if len(group) < 2:
            return lambda row: False
        hold = self.outbox.channel_hold(channel)
        if hold is None:
            return lambda row: False
        until = hold[0]
        return lambda row: row.created_at < until
