"""``track``, ``untrack``, ``tracked``, ``subscribe``, ``unsubscribe``, ``subscriptions``:
:class:`TrackingService` implements :class:`bot.commands.types.TrackingCommands`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from ..commands.parse import job_ids_problem
from ..commands.types import (
    ChannelSettings,
    Context,
    Mute,
    Subscribe,
    Track,
    Unmute,
    Unsubscribe,
    Untrack,
)
from ..domain.explain import Reason
from ..domain.messaging import ChannelUnavailable, DeliveryError, Messenger, RateLimited
from ..domain.records import Subscription, TrackedJob
from ..domain.reply import Reply
from ..domain.runbook import DEFAULT, Runbook
from ..metastudio.api import JobsAPI
from ..metastudio.errors import MetaStudioError
from ..metastudio.models import Job
from ..views import notifications as messages
from ..views.errors import upstream_error_reply
from ..views.format import local_time, short_duration
from .delivery.oncall import OnCallStore
from .delivery.outbox import Outbox
from .delivery.pages import Page, PageStore, announcement
from .delivery.reasons import no_reasons
from .polling.active import ActiveSet
from .store.database import Store
from .watches.stuck import StuckWatch, StuckWatcher

log = logging.getLogger(__name__)

INVITE_HINT = "Invite me with `/invite @videojobs`, then try again."
#: A Cancel or Retry claim older than this was left by a request that died.
CLAIM_STALE = timedelta(minutes=2)
#: Ids tracked from one message by the shortcut (the answer lists each; Block Kit's 50
#: blocks bound it).
MAX_IDS = 20
#: What a tracking message says when its tracking could not be saved.
NOT_SAVED = "⚠️ Not tracking these jobs: the bot could not save this. Run the track again."


class TrackingService:
    """The tracking commands of one workspace.

    The tracking message is posted with ``chat.postMessage`` through ``messenger``: an
    answer sent to a ``response_url`` has no ``ts`` to thread replies under or to edit.
    """

    def __init__(self, store: Store, outbox: Outbox, jobs: JobsAPI, messenger: Messenger,
                 *, broadcast_default: bool, stuck: StuckWatcher | None = None,
                 runbook: Runbook = DEFAULT, can_cancel: bool = False,
                 can_retry: bool = False,
                 reasons: Callable[[Job], tuple[Reason, ...]] = no_reasons,
                 group_known: Callable[[str], bool | None] | None = None):
        self.store = store
        self.outbox = outbox
        self.jobs = jobs
        self.messenger = messenger
        self.oncall = OnCallStore(store)
        self.pages = PageStore(store)
        #: BROADCAST_FAILURES, for ``settings`` to show what "default" means.
        self.broadcast_default = broadcast_default
        #: ``subscribe stuck``; None where no stuck check runs.
        self.stuck = stuck
        #: How failures are explained, and whether tracking messages offer Cancel.
        self.runbook = runbook
        self.can_cancel = can_cancel
        self.can_retry = can_retry
        self.reasons = reasons
        #: Whether a ``notify=`` group exists (usergroups.list); None: nobody to ask.
        self.group_known = group_known

    def track(self, ctx: Context, command: Track, now: datetime) -> Reply:
        """Post a tracking message for the unfinished jobs among ``command.job_ids``;
        finished ones are answered at once, unknown and already tracked ones said so."""
        ids = list(dict.fromkeys(command.job_ids))
        problem = job_ids_problem(ids, "track")
        if problem:
            return Reply(text=problem)
        tracked = {t.job_id for t in self.store.channel_tracked(ctx.channel_id)}
        already = [i for i in ids if i in tracked]
        rest = [i for i in ids if i not in tracked]
        # A MetaStudioError goes up to the router, which explains it like any command's.
        found = self.jobs.get_jobs(rest) if rest else {}
        unknown = [i for i in rest if i not in found]
        ended = [found[i] for i in rest if i in found and found[i].is_finished]
        todo = [found[i] for i in rest if i in found and not found[i].is_finished]
        if todo:
            try:
                added = self._post_tracking(ctx, todo, now)
            except DeliveryError as e:
                return Reply(text=_post_refused(e, "post the tracking message"))
            except SQLAlchemyError:
                return Reply(text="I couldn't save the tracking (the database did not "
                                  "answer), so nothing will be posted for these jobs. "
                                  "Try again in a moment.")
            already += [j.job_id for j in todo if j.job_id not in added]
            todo = [j for j in todo if j.job_id in added]
        # Both lists hold unfinished jobs only (``already``: the channel's open rows), so
        # each watcher is told once, when the poller closes the job.
        watching = [j.job_id for j in todo] + already if command.notify_me else []
        for job_id in watching:
            self.oncall.add_watcher(job_id, ctx.user_id, now)
        return _track_reply(todo, already, ended, unknown, watching=watching,
                            runbook=self.runbook)

    def track_under(self, ctx: Context, job_ids: list[str], root_ts: str,
                    now: datetime, *, retry_of: str | None = None,
                    thread_only: bool = True) -> str | None:
        """Track ``job_ids`` in ``ctx.channel_id`` with ``root_ts`` as their thread, and
        answer in that thread. Returns an ephemeral line for the person when the answer
        could not be posted (or None). ``root_ts`` is someone's message (the shortcut's)
        or an announcement unless ``thread_only`` is False (a tracking message, redrawn
        as its jobs move); ``retry_of`` words the answer as that job's retry."""
        extra = len(job_ids) - MAX_IDS
        ids = job_ids[:MAX_IDS]
        tracked = {t.job_id for t in self.store.channel_tracked(ctx.channel_id)}
        already = [i for i in ids if i in tracked]
        rest = [i for i in ids if i not in tracked]
        try:
            found = self.jobs.get_jobs(rest) if rest else {}
        except MetaStudioError as e:
            return upstream_error_reply(e, doing="look up the jobs to track").text
        todo = [found[i] for i in rest if i in found and not found[i].is_finished]
        ended = [found[i] for i in rest if i in found and found[i].is_finished]
        unknown = [i for i in rest if i not in found]
        message = messages.track_under_answer(ctx.user_id, todo, already, ended, unknown, extra,
                                              limit=MAX_IDS, runbook=self.runbook,
                                              retry_of=retry_of)
        try:
            answer_ts = self.messenger.post(ctx.channel_id, text=message.text,
                                            blocks=message.blocks, thread_ts=root_ts)
        except ChannelUnavailable as e:
            return (f"I can't post in this channel (`{e.error}`). "
                    "Invite me with `/invite @videojobs`, then try again.")
        except DeliveryError as e:
            log.warning("shortcut answer not posted in %s: %s", ctx.channel_id, e)
            return f"Slack refused my answer (`{e.error or e}`); try again in a moment."
        if todo:
            try:
                self.store.add_tracked(
                    ctx.channel_id, [(j.job_id, j.state_name, j.create_time) for j in todo],
                    message_ts=root_ts, requested_by=ctx.user_id, now=now,
                    thread_only=thread_only)
            except SQLAlchemyError:
                # The answer promises replies that would never come: take the promise back.
                log.exception("tracking under %s in %s not saved", root_ts, ctx.channel_id)
                try:
                    self.messenger.update(ctx.channel_id, answer_ts, text=NOT_SAVED, blocks=[])
                except DeliveryError as e:
                    log.warning("shortcut answer %s not marked as unsaved: %s", answer_ts, e)
                return ("I couldn't save the tracking (the database did not answer), so "
                        "nothing will be posted for these jobs. Try again in a moment.")
        return None

    def _post_tracking(self, ctx: Context, jobs: list[Job], now: datetime) -> list[str]:
        preview = [TrackedJob(
            id=0, channel=ctx.channel_id, job_id=j.job_id, message_ts="",
            requested_by=ctx.user_id, last_state=j.state_name, job_created_at=j.create_time,
            created_at=now, paused_reason=None, closed=False) for j in jobs]
        message = messages.tracking_message(preview, can_cancel=self.can_cancel)
        ts = self.messenger.post(ctx.channel_id, text=message.text, blocks=message.blocks)
        try:
            return self.store.add_tracked(
                ctx.channel_id, [(j.job_id, j.state_name, j.create_time) for j in jobs],
                message_ts=ts, requested_by=ctx.user_id, now=now,
            )
        except SQLAlchemyError:
            # No row points at the message, so it would never update: say so in it.
            log.exception("tracking in %s not saved; marking its message", ctx.channel_id)
            try:
                self.messenger.update(ctx.channel_id, ts, text=NOT_SAVED, blocks=[])
            except DeliveryError as e:
                log.warning("tracking message %s not marked as unsaved: %s", ts, e)
            raise

    def untrack(self, ctx: Context, command: Untrack) -> Reply:
        """Stop tracking one job in this channel. Its tracking message stops promising
        a reply for it; a DM someone asked for (``notify=me``) still comes."""
        job_id = command.job_id
        message_ts = self.store.tracking_message_of(ctx.channel_id, job_id)
        own = message_ts is not None and any(
            not t.thread_only for t in self.store.in_message(ctx.channel_id, message_ts))
        if message_ts is None or not self.store.untrack(ctx.channel_id, job_id):
            return Reply(text=f"This channel is not tracking `{job_id}`.")
        if own:  # a shortcut's message or an announcement is not ours to redraw
            self._redraw_tracking_message(ctx, message_ts)
        if not self.oncall.watchers(job_id) or self.store.open_channels(job_id):
            return Reply(text=f"Stopped tracking `{job_id}` here.")
        # Nothing else follows the job now: watch it, so the DM it owes still goes out.
        try:
            found = self.jobs.get_jobs([job_id]).get(job_id)
        except MetaStudioError:
            found = None
        if found is not None and not found.is_finished:
            with self.store.begin() as conn:
                ActiveSet(self.store).watch(conn, found, now=datetime.now(UTC))
            return Reply(text=f"Stopped tracking `{job_id}` here. The DM asked for "
                              "(`notify=me`) still comes when it ends.")
        return Reply(text=f"Stopped tracking `{job_id}` here. MetaStudio could not be "
                          "asked about it just now, so the DM asked for may not come.")

    def _redraw_tracking_message(self, ctx: Context, message_ts: str) -> None:
        """The tracking message without the untracked job; with none left, it says it
        tracks nothing any more instead of promising a reply."""
        left = self.store.in_message(ctx.channel_id, message_ts)
        message = (messages.tracking_message(left, can_cancel=self.can_cancel) if left
                   else messages.untracked_message(ctx.user_id))
        try:
            self.messenger.update(ctx.channel_id, message_ts, text=message.text,
                                  blocks=message.blocks)
        except DeliveryError as e:
            log.warning("tracking message %s not redrawn after untrack: %s", message_ts, e)

    def tracked(self, ctx: Context) -> Reply:
        """The channel's unfinished tracked jobs (with pause reasons) and the
        notifications that could not be delivered."""
        jobs = self.store.channel_tracked(ctx.channel_id)
        failed = self.outbox.failed(ctx.channel_id)[-5:]
        lines = [messages.tracked_line(j) for j in jobs]
        lines += [f"⚠️ not delivered: `{f.dedupe_key}`: {f.last_error}" for f in failed]
        if not lines:
            return Reply(text="This channel tracks no jobs. "
                              "Use `/videojobs track <job_id>` to start.")
        return _reply(messages.lines_reply(f"This channel tracks {len(jobs)} "
                                        f"job{'s' * (len(jobs) != 1)}", lines))

    def subscribe(self, ctx: Context, command: Subscribe, now: datetime) -> Reply:
        """Subscribe the channel; a confirmation is posted in it, which also checks that
        the bot can post there."""
        unchecked = ""
        if command.notify_group and self.group_known is not None:
            known = self.group_known(command.notify_group)
            if known is False:
                return Reply(text=f"`{command.notify_group}` is not a user group of this "
                                  "workspace, so it would page nobody. Pick the group from "
                                  "Slack's @ list: `notify=@oncall`.")
            if known is None:
                unchecked = (f" (Slack could not be asked whether `{command.notify_group}` "
                             "is a user group just now: check that it pages.)")
        reply = (self._subscribe_stuck(ctx, command, now) if command.outcome == "stuck"
                 else self._subscribe_outcome(ctx, command, now))
        reply.text += unchecked
        return reply

    def _subscribe_outcome(self, ctx: Context, command: Subscribe, now: datetime) -> Reply:
        sub, new = self.store.add_subscription(
            ctx.channel_id, outcome=command.outcome,
            job_type=str(command.job_type) if command.job_type else None,
            asset_name=command.asset_name, script_id=command.script_id,
            created_by=ctx.user_id, now=now,
        )
        before = self.oncall.mentions([sub.id]).get(sub.id)
        escalated = self.oncall.escalations([sub.id]).get(sub.id)
        if command.notify_group:
            # Saying notify= again changes whom an existing subscription pages.
            self.oncall.set_mention(sub.id, command.notify_group, command.escalate_group)
        after = self.oncall.mentions([sub.id]).get(sub.id)
        escalates = self.oncall.escalations([sub.id]).get(sub.id)
        line = messages.subscription_line(sub, after, escalates)
        if not new:
            changes = []
            if after != before:
                was = f"<!subteam^{before}>" if before else "nobody"
                changes.append(f"its failures now page <!subteam^{after}> (was {was})")
            if escalates != escalated:
                was = f"<!subteam^{escalated}>" if escalated else "nobody"
                changes.append(f"unacknowledged pages escalate to <!subteam^{escalates}> "
                               f"(was {was})")
            if changes:
                return Reply(text=f"Updated subscription #{sub.id}: {'; '.join(changes)}; its "
                                  f"outcome and filters stay as they were: {line}")
            return Reply(text=f"This channel already has that subscription, unchanged: "
                              f"{line}")
        try:
            self.messenger.post(ctx.channel_id, text=(
                f"📣 <@{ctx.user_id}> subscribed this channel to {sub.outcome} jobs "
                f"(subscription #{sub.id}). Jobs that end from now on are announced here."))
        except ChannelUnavailable as e:
            self.store.remove_subscription(ctx.channel_id, sub.id)
            return Reply(text=_post_refused(e, "post in this channel"))
        except DeliveryError as e:
            log.warning("subscription #%d confirmation not posted: %s", sub.id, e)
        self.store.resume_channel(ctx.channel_id)
        return Reply(text=f"Subscribed: {line}. `/videojobs unsubscribe {sub.id}` stops it.")

    def _subscribe_stuck(self, ctx: Context, command: Subscribe, now: datetime) -> Reply:
        if self.stuck is None:
            return Reply(text="Stuck-job announcements are not available in this bot.")
        kind = str(command.job_type) if command.job_type else None
        before = self.stuck.watch_of(ctx.channel_id)
        new = self.stuck.watch(ctx.channel_id, job_type=kind, group_id=command.notify_group,
                               created_by=ctx.user_id, now=now,
                               escalate_group_id=command.escalate_group)
        if new:
            try:
                self.messenger.post(ctx.channel_id, text=(
                    f"🐢 <@{ctx.user_id}> subscribed this channel to stuck jobs: each "
                    "unfinished job that waits or runs longer than usual for its type is "
                    "announced once, and again when it ends."))
            except ChannelUnavailable as e:
                self.stuck.unwatch(ctx.channel_id)
                return Reply(text=_post_refused(e, "post in this channel"))
            except DeliveryError as e:
                log.warning("stuck subscription confirmation not posted: %s", e)
        if new:
            return Reply(text="Subscribed: stuck jobs in this channel. "
                              "`/videojobs unsubscribe stuck` stops it.")
        after = self.stuck.watch_of(ctx.channel_id)
        assert before is not None and after is not None  # it existed, and still does
        return Reply(text=_stuck_changes(before, after))

    def unsubscribe(self, ctx: Context, command: Unsubscribe) -> Reply:
        """Remove a subscription by id, or the channel's only one."""
        if command.stuck:
            if self.stuck is not None and self.stuck.unwatch(ctx.channel_id):
                return Reply(text="Unsubscribed from stuck jobs.")
            return Reply(text="This channel is not subscribed to stuck jobs.")
        sub_id = command.subscription_id
        if sub_id is None:
            subs = self.store.channel_subscriptions(ctx.channel_id)
            stuck_line = self._stuck_line(ctx.channel_id)
            if not subs and not stuck_line:
                return Reply(text="This channel has no subscriptions.")
            if len(subs) + bool(stuck_line) > 1:
                lines = self._subscription_lines(subs) + ([stuck_line] if stuck_line else [])
                return _reply(messages.lines_reply(
                    "Which one? `/videojobs unsubscribe <id>` (or `unsubscribe stuck`)",
                    lines))
            if not subs:
                return self.unsubscribe(ctx, Unsubscribe(stuck=True))
            sub_id = subs[0].id
        if self.store.remove_subscription(ctx.channel_id, sub_id):
            return Reply(text=f"Unsubscribed #{sub_id}.")
        return Reply(text=f"This channel has no subscription #{sub_id}.")

    def subscriptions(self, ctx: Context) -> Reply:
        """The channel's subscriptions, paused ones with the reason."""
        subs = self.store.channel_subscriptions(ctx.channel_id)
        lines = self._subscription_lines(subs)
        stuck_line = self._stuck_line(ctx.channel_id)
        if stuck_line:
            lines.append(stuck_line)
        if not lines:
            return Reply(text="This channel has no subscriptions. "
                              "`/videojobs subscribe failed` announces every failed job.")
        return _reply(messages.lines_reply(f"Subscriptions of this channel ({len(lines)})",
                                           lines))

    # -- on-call: pages, claims and the audit log (docs/oncall.md) ---------------------------

    def acknowledge(self, ctx: Context, page_key: str, now: datetime) -> Reply:
        """``ctx.user_id`` has the page: no more reminders, and its message says who has it
        since when. Anyone in the channel may press it."""
        page = self.pages.acknowledge(page_key, ctx.user_id, now)
        if page is None:
            return Reply(text="That page is no longer known; nothing to acknowledge.")
        if page.acked_by != ctx.user_id:
            return Reply(text=f"<@{page.acked_by}> already has it (since "
                              f"{local_time(page.acked_at, ctx.tz)}).")
        self.record(ctx, "acknowledge", page_key, "acknowledged", now)
        self._redraw_page(page)
        return Reply(text="✋ You have it: no more reminders for this page.")

    def snooze(self, ctx: Context, page_key: str, now: datetime) -> Reply:
        """Postpone the page's next reminder by an hour."""
        page = self.pages.snooze(page_key, ctx.user_id, now)
        if page is None:
            return Reply(text="That page is no longer known; nothing to snooze.")
        if page.acked_by is not None:
            return Reply(text=f"<@{page.acked_by}> already has it; nothing to snooze.")
        until = local_time(page.snoozed_until, ctx.tz)
        self.record(ctx, "snooze", page_key, f"until {until}", now)
        self._redraw_page(page)
        return Reply(text=f"😴 Snoozed: the next reminder waits until {until}.")

    def _redraw_page(self, page: Page) -> None:
        shown = announcement(self.outbox, self.pages, page.page_key, runbook=self.runbook,
                             can_retry=self.can_retry, reasons=self.reasons)
        if shown is None or page.message_ts is None:
            return
        try:
            self.messenger.update(page.channel, page.message_ts, text=shown[0],
                                  blocks=shown[1])
        except DeliveryError as e:
            log.warning("page %s not redrawn: %s", page.page_key, e)

    def record(self, ctx: Context, action: str, target: str, result: str,
               now: datetime) -> None:
        """Keep who did what for ``audit``; a database hiccup never fails the action."""
        try:
            self.store.record_action(at=now, user_id=ctx.user_id, channel=ctx.channel_id,
                                     action=action, target=target, result=result)
        except SQLAlchemyError:
            log.exception("audit entry not recorded: %s %s by %s", action, target, ctx.user_id)

    def audit(self, ctx: Context, since: datetime | None, until: datetime | None) -> Reply:
        """Who canceled, retried, acknowledged, snoozed or muted what, newest first."""
        entries = self.store.actions(since, until)
        if not entries:
            return Reply(text="Nothing was canceled, retried, acknowledged, snoozed or muted "
                              "in that window.")
        return _reply(messages.lines_reply(
            f"Audit ({len(entries)}, newest first)",
            [messages.audit_line(e, ctx.tz) for e in entries]))

    def claim(self, key: str, user_id: str, now: datetime) -> str | None:
        """Claim a Cancel or Retry press (see :meth:`Store.claim`)."""
        return self.store.claim(key, user_id, now, stale=CLAIM_STALE)

    def release(self, key: str, user_id: str) -> None:
        self.store.release(key, user_id)

    def track_retry(self, ctx: Context, job_id: str, new_job_id: str, thread_ts: str | None,
                    now: datetime) -> str | None:
        """Track ``new_job_id``, the retry of ``job_id``, where ``job_id`` was told: its
        tracking message in this channel, else the thread Retry was pressed in (a failure
        announcement), else a new tracking message. Returns a line for the person when
        it could not be tracked (or None)."""
        own = self.oncall.tracking_ts(ctx.channel_id, job_id)
        if own is not None or thread_ts is not None:
            return self.track_under(ctx, [new_job_id], own or thread_ts or "", now,
                                    retry_of=job_id, thread_only=own is None)
        reply = self.track(ctx, Track((new_job_id,)), now)
        tracked = self.oncall.tracking_ts(ctx.channel_id, new_job_id) is not None
        return None if tracked else reply.text

    def note_in_thread(self, ctx: Context, job_id: str, line: str) -> None:
        """Post ``line`` in the job's tracking thread in this channel, if it has one."""
        ts = self.oncall.tracking_ts(ctx.channel_id, job_id)
        if ts is not None:
            self.messenger.post(ctx.channel_id, text=line, thread_ts=ts)

    def _subscription_lines(self, subs: list[Subscription]) -> list[str]:
        ids = [s.id for s in subs]
        mentions, escalations = self.oncall.mentions(ids), self.oncall.escalations(ids)
        return [messages.subscription_line(s, mentions.get(s.id), escalations.get(s.id))
                for s in subs]

    def _stuck_line(self, channel: str) -> str | None:
        watch = self.stuck.watch_of(channel) if self.stuck is not None else None
        if watch is None:
            return None
        kind = f" (type={watch.job_type})" if watch.job_type else ""
        group = f", pages <!subteam^{watch.group_id}>" if watch.group_id else ""
        return f"stuck{kind}, by <@{watch.created_by}>{group} (`unsubscribe stuck`)"

    # -- noise controls -----------------------------------------------------------------

    def mute(self, ctx: Context, command: Mute, now: datetime) -> Reply:
        """Snooze the channel's subscription announcements (one job's, or all). A job
        must be one this channel would hear of: tracked here, or one MetaStudio knows
        (a subscription may announce it); a typo mutes nothing."""
        until = now + timedelta(seconds=command.seconds)
        job_id = command.job_id
        tracked_here = {t.job_id for t in self.store.channel_tracked(ctx.channel_id)}
        # A MetaStudioError goes up to the router, which explains it.
        if job_id is not None and job_id not in tracked_here \
                and job_id not in self.jobs.get_jobs([job_id]):
            return Reply(text=f"No job `{job_id}` found: nothing muted. "
                              "`/videojobs mute JOB_ID 2h` takes the id of a job, "
                              "`mute all 2h` every announcement.")
        self.oncall.mute(ctx.channel_id, command.job_id, until)
        self.record(ctx, "mute", command.job_id or "all", f"for {short_duration(command.seconds)}",
                    now)
        what = f"`{command.job_id}`" if command.job_id else "all subscription announcements"
        return Reply(text=f"🔕 Muted {what} in this channel for "
                          f"{short_duration(command.seconds)}. Tracked jobs still reply in "
                          "their threads. `/videojobs unmute` lifts it.")

    def unmute(self, ctx: Context, command: Unmute) -> Reply:
        """Lift every mute of the channel, or one job's."""
        if command.job_id is not None:
            if self.oncall.unmute_job(ctx.channel_id, command.job_id):
                return Reply(text=f"🔔 Unmuted `{command.job_id}`: its end is announced "
                                  "here again.")
            return Reply(text=f"`{command.job_id}` is not muted in this channel.")
        if self.oncall.unmute(ctx.channel_id):
            return Reply(text="🔔 Unmuted: subscriptions announce here again.")
        return Reply(text="Nothing is muted in this channel.")

    def settings(self, ctx: Context, command: ChannelSettings, now: datetime) -> Reply:
        """Show the channel's noise settings, or set ``broadcast``."""
        if command.broadcast is not None:
            value = {"on": True, "off": False, "default": None}[command.broadcast]
            self.oncall.set_broadcast(ctx.channel_id, value)
        noise = self.oncall.noise(ctx.channel_id, now)
        return _reply(messages.settings_reply(noise, default_broadcast=self.broadcast_default,
                                              changed=command.broadcast is not None))


def _stuck_changes(before: StuckWatch, after: StuckWatch) -> str:
    """What ``subscribe stuck`` changed of the channel's stuck subscription, and what
    stayed."""
    def kind(value: str | None) -> str:
        return f"`{value}` jobs" if value else "every job type"

    def group(value: str | None) -> str:
        return f"<!subteam^{value}>" if value else "nobody"

    changed: list[str] = []
    kept: list[str] = []
    for name, old, new, show in (("for", before.job_type, after.job_type, kind),
                                 ("paging", before.group_id, after.group_id, group)):
        (changed if old != new else kept).append(
            f"{name} {show(new)} (was {show(old)})" if old != new else f"{name} {show(new)}")
    if not changed:
        return ("This channel already has that stuck subscription, unchanged ("
                + ", ".join(kept) + ").")
    return ("Updated the stuck subscription: " + ", ".join(changed)
            + (". Kept: " + ", ".join(kept) if kept else "") + ".")


def _post_refused(error: DeliveryError, what: str) -> str:
    if isinstance(error, ChannelUnavailable):
        return f"I can't {what} (`{error.error}`). {INVITE_HINT}"
    if isinstance(error, RateLimited):
        return f"Slack is rate-limiting me here; try again in {error.retry_after:.0f} s."
    return f"Slack refused to {what} (`{error.error or error}`)."


def _track_reply(
    todo: list[Job], already: list[str], ended: list[Job], unknown: list[str], *,
    watching: Sequence[str] = (), runbook: Runbook = DEFAULT,
) -> Reply:
    blocks = []
    texts = []
    if todo:
        line = (f"👀 Tracking {', '.join(f'`{j.job_id}`' for j in todo)}: I reply in the "
                "tracking message's thread when each one ends.")
        texts.append(line)
        blocks += messages.lines_reply(line, []).blocks
    if already:
        line = f"Already tracked here: {', '.join(f'`{i}`' for i in already)}"
        texts.append(line)
        blocks += messages.lines_reply(line, []).blocks
    for job in ended:
        message = messages.outcome(job, with_image=False, runbook=runbook)
        texts.append(f"Already finished: {message.text}")
        blocks += message.blocks
    if watching:
        line = (f"📬 I'll also DM you when {', '.join(f'`{i}`' for i in watching)} "
                f"end{'s' * (len(watching) == 1)}.")
        texts.append(line)
        blocks += messages.lines_reply(line, []).blocks
    if unknown:
        line = f"No such job: {', '.join(f'`{i}`' for i in unknown)}"
        texts.append(line)
        blocks += messages.lines_reply(line, []).blocks
    return Reply(text="\n".join(texts), blocks=blocks[:50])


def _reply(message: messages.Message) -> Reply:
    return Reply(text=message.text, blocks=list(message.blocks))
