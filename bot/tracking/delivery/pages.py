"""Pages and incidents (docs/oncall.md): the on-call state an announcement leaves behind.

A **page** is an announcement that mentioned user groups. It waits for someone to press
Acknowledge; until then, ``escalate_after`` after it was posted it is repeated once in
its thread, and as long again later the channel's escalation groups are paged
(:class:`~bot.tracking.watches.escalation.EscalationWatch`). Each step is an outbox row
with a UNIQUE key written in the same transaction that moves the page on, so it happens
exactly once whatever the restarts and however many processes.

An **incident** is failures of one error code and job type in one channel, each within
``window`` of the previous one: the first is announced (and pages), the others become a
line each in its thread and update its message; a success of that job type afterwards
recovers it, with one reply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ...domain.explain import Reason
from ...domain.runbook import DEFAULT, Runbook
from ...metastudio.models import Job
from ...views import notifications as messages
from ...views.oncall import (
    IncidentView,
    PageState,
    incident_message,
    incident_note,
    page_blocks,
    recovered_note,
)
from ..store.database import Store
from ..store.tables import incidents, pages
from .outbox import Outbox
from .reasons import no_reasons

#: Outbox kinds of the on-call rows, posted in the page's or incident's thread.
PAGE_REPEAT = "page_repeat"
PAGE_ESCALATE = "page_escalate"
INCIDENT_LINE = "incident_line"
INCIDENT_RECOVERED = "recovered"  # outbox.kind holds 16 characters
#: How long Snooze postpones a page's next reminder.
SNOOZE = timedelta(hours=1)


@dataclass(frozen=True)
class Page:
    id: int
    page_key: str
    channel: str
    groups: list[str]
    escalate_groups: list[str]
    summary: str
    message_ts: str | None
    acked_by: str | None
    acked_at: datetime | None
    snoozed_by: str | None
    snoozed_until: datetime | None
    repeats: int
    next_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class Incident:
    id: int
    channel: str
    error_code: str
    job_type: str
    first_at: datetime
    last_at: datetime
    count: int
    assets: list[str]
    announce_key: str
    recovered_at: datetime | None


class PageStore:
    """The ``pages`` and ``incidents`` tables."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- pages ----------------------------------------------------------------------------

    def open_page(self, conn: sa.Connection, *, key: str, channel: str, groups: list[str],
                  escalate_groups: list[str], summary: str, now: datetime) -> bool:
        """Record that the announcement ``key`` pages ``groups`` (in the caller's
        transaction, beside its outbox row); its reminders start once it is posted."""
        if self.store.insert_ignore(conn, pages, dict(
                page_key=key, channel=channel, groups=sorted(set(groups)),
                escalate_groups=sorted(set(escalate_groups)), summary=summary[:500],
                repeats=0, created_at=now)):
            return True
        # A second reason paged more groups (Outbox.enqueue_merging_groups): remind them too.
        row = conn.execute(pages.select().where(pages.c.page_key == key)).one()
        conn.execute(pages.update().where(pages.c.id == row.id).values(
            groups=sorted({*row.groups, *groups}),
            escalate_groups=sorted({*row.escalate_groups, *escalate_groups})))
        return False

    def page(self, key: str) -> Page | None:
        with self.store.begin() as conn:
            row = conn.execute(pages.select().where(pages.c.page_key == key)).first()
        return Page(**row._mapping) if row is not None else None

    def posted(self, key: str, ts: str, due: datetime) -> None:
        """The page's message is in Slack at ``ts``: its first reminder is due at ``due``
        (kept if already set: a retried post does not push it back)."""
        with self.store.begin() as conn:
            conn.execute(pages.update().where(pages.c.page_key == key, pages.c.message_ts.is_(None))
                         .values(message_ts=ts, next_at=due))

    def acknowledge(self, key: str, user: str, now: datetime) -> Page | None:
        """``user`` has it: no more reminders. The page as it is now (who had it first
        if someone did), or None for a key that is no page."""
        with self.store.begin() as conn:
            conn.execute(pages.update().where(pages.c.page_key == key,
                                              pages.c.acked_by.is_(None))
                         .values(acked_by=user, acked_at=now, next_at=None))
            row = conn.execute(pages.select().where(pages.c.page_key == key)).first()
        return Page(**row._mapping) if row is not None else None

    def snooze(self, key: str, user: str, now: datetime) -> Page | None:
        """Postpone the page's next reminder by :data:`SNOOZE`."""
        until = now + SNOOZE
        with self.store.begin() as conn:
            row = conn.execute(pages.select().where(pages.c.page_key == key)).first()
            if row is None:
                return None
            if row.acked_by is None:
                later = until if row.next_at is None or row.next_at < until else row.next_at
                conn.execute(pages.update().where(pages.c.id == row.id).values(
                    snoozed_by=user, snoozed_until=until,
                    next_at=later if row.repeats < 2 else row.next_at))
            row = conn.execute(pages.select().where(pages.c.id == row.id)).one()
        return Page(**row._mapping)

    def resolve(self, conn: sa.Connection, key: str) -> None:
        """Nothing more to remind of (its incident recovered)."""
        conn.execute(pages.update().where(pages.c.page_key == key).values(next_at=None))

    def due(self, now: datetime, limit: int = 100) -> list[Page]:
        """Pages whose next reminder is due: posted, unacknowledged, not snoozed."""
        with self.store.begin() as conn:
            rows = conn.execute(pages.select().where(
                pages.c.next_at.is_not(None), pages.c.next_at <= now,
                pages.c.acked_by.is_(None), pages.c.message_ts.is_not(None),
                pages.c.repeats < 2,
            ).order_by(pages.c.next_at).limit(limit))
            return [Page(**row._mapping) for row in rows]

    def remind(self, outbox: Outbox, page: Page, now: datetime, every: timedelta) -> bool:
        """Write the page's next reminder (the repeat, then the escalation) and move the
        page on, in one transaction; False when another process did first or the page
        was acknowledged meanwhile."""
        step = page.repeats + 1
        with self.store.begin() as conn:
            moved = conn.execute(pages.update().where(
                pages.c.id == page.id, pages.c.repeats == page.repeats,
                pages.c.acked_by.is_(None),
            ).values(repeats=step, next_at=now + every if step == 1 else None)).rowcount
            if moved != 1:
                return False
            waited = (now - page.created_at).total_seconds()
            if step == 1:
                outbox.enqueue(conn, kind=PAGE_REPEAT, channel=page.channel,
                               dedupe_key=f"repeat:{page.page_key}",
                               payload={"page": page.page_key, "thread_ts": page.message_ts,
                                        "mention_groups": page.groups, "waited": waited},
                               now=now)
            elif page.escalate_groups:
                outbox.enqueue(conn, kind=PAGE_ESCALATE, channel=page.channel,
                               dedupe_key=f"escalate:{page.page_key}",
                               payload={"page": page.page_key, "thread_ts": page.message_ts,
                                        "mention_groups": page.escalate_groups,
                                        "first": page.groups, "waited": waited},
                               now=now)
        return True

    # -- incidents ------------------------------------------------------------------------

    def open_incident(self, conn: sa.Connection, channel: str, job: Job,
                      window: timedelta, now: datetime) -> Incident | None:
        """The channel's incident ``job``'s failure belongs to (same code and job type,
        the last failure ending within ``window`` before it), or None."""
        code, kind = _cause(job)
        row = conn.execute(incidents.select().where(
            incidents.c.channel == channel, incidents.c.error_code == code,
            incidents.c.job_type == kind, incidents.c.recovered_at.is_(None),
            incidents.c.last_at >= _ended(job, now) - window,
        ).order_by(incidents.c.id.desc())).first()
        return Incident(**row._mapping) if row is not None else None

    def start_incident(self, conn: sa.Connection, channel: str, job: Job, key: str,
                       now: datetime) -> int:
        code, kind = _cause(job)
        at = _ended(job, now)
        inserted = conn.execute(incidents.insert().values(
            channel=channel, error_code=code, job_type=kind, first_at=at, last_at=at,
            count=1, assets=[job.asset_name] if job.asset_name else [], announce_key=key,
        )).inserted_primary_key
        assert inserted is not None
        return int(inserted[0])

    def add_failure(self, conn: sa.Connection, incident: Incident, job: Job,
                    now: datetime) -> None:
        assets = list(incident.assets)
        if job.asset_name and job.asset_name not in assets:
            assets.append(job.asset_name)
        at = max(_ended(job, now), incident.last_at)
        conn.execute(incidents.update().where(incidents.c.id == incident.id).values(
            count=incidents.c.count + 1, last_at=at, assets=assets))

    def incident(self, incident_id: int) -> Incident | None:
        with self.store.begin() as conn:
            return self.incident_of(conn, incident_id)

    def incident_of(self, conn: sa.Connection, incident_id: int) -> Incident | None:
        row = conn.execute(incidents.select().where(incidents.c.id == incident_id)).first()
        return Incident(**row._mapping) if row is not None else None

    def recover(self, conn: sa.Connection, outbox: Outbox, channel: str, job: Job,
                now: datetime) -> int:
        """A job of this type succeeded in ``channel``'s view: every open incident of
        that type there recovers, with one reply each; how many did."""
        kind = _cause(job)[1]
        # Only a success that ended after the incident's last failure: one that ended with
        # it (seen in the same poll) says nothing about the cause being gone.
        rows = conn.execute(incidents.select().where(
            incidents.c.channel == channel, incidents.c.job_type == kind,
            incidents.c.recovered_at.is_(None), incidents.c.last_at < _ended(job, now))).all()
        recovered = 0
        for row in rows:
            if conn.execute(incidents.update().where(
                    incidents.c.id == row.id, incidents.c.recovered_at.is_(None))
                    .values(recovered_at=now)).rowcount != 1:
                continue
            self.resolve(conn, row.announce_key)
            recovered += outbox.enqueue(
                conn, kind=INCIDENT_RECOVERED, channel=channel,
                dedupe_key=f"recovered:{row.id}",
                payload={"job": job.model_dump(mode="json"), "incident": row.id}, now=now)
        return recovered


def _ended(job: Job, now: datetime) -> datetime:
    """When MetaStudio says the job ended (``now`` if it does not say)."""
    return job.end_time or job.lastupdate_time or now


def _cause(job: Job) -> tuple[str, str]:
    """What makes failures one incident: the error code (a blocked job's state, which
    has none) and the job type."""
    if job.state_name == "BLOCK":
        return "BLOCK", str(job.job_type or "-")
    code = job.error_info.error_code if job.error_info and job.error_info.error_code else "-"
    return code, str(job.job_type or "-")


def incident_payload(incident: Incident) -> dict[str, Any]:
    """What an incident's rows carry to find it again."""
    return {"incident": incident.id}


def page_state(page: Page | None) -> PageState:
    if page is None:
        return PageState()
    return PageState(acked_by=page.acked_by, acked_at=page.acked_at,
                     snoozed_by=page.snoozed_by, snoozed_until=page.snoozed_until)


def incident_view(incident: Incident, job: Job | None = None) -> IncidentView:
    error = job.error_info.error_msg if job and job.error_info else None
    return IncidentView(error_code=incident.error_code, job_type=incident.job_type,
                        count=incident.count, first_at=incident.first_at,
                        last_at=incident.last_at, assets=incident.assets, error_msg=error,
                        recovered_at=incident.recovered_at)


def announcement(outbox: Outbox, store: PageStore, key: str, *,
                 runbook: Runbook = DEFAULT,
                 can_retry: bool = False,
                 reasons: Callable[[Job], tuple[Reason, ...]] = no_reasons,
                 ) -> tuple[str, list[Any]] | None:
    """The channel announcement ``key`` as it should read now: an incident's count, last
    seen and recovery, a page's buttons or who has it. None when ``key`` is not one. A
    single failure offers Retry when ``can_retry`` and says why it failed (``reasons``);
    an incident's many jobs do neither (it names their assets)."""
    row = outbox.by_key(key)
    if row is None or row.kind not in ("sub", "stuck"):
        return None
    job = Job.model_validate(row.payload["job"])
    groups = messages.groups_of(row.payload)
    page = store.page(key)
    incident = store.incident(int(row.payload["incident"])) if "incident" in row.payload else None
    if incident is not None and incident.count > 1:
        text, blocks = incident_message(incident_view(incident, job), groups, first=job,
                                        runbook=runbook)
    else:
        # A single failure reads as one; it becomes the incident's count once another
        # failure of its cause follows.
        message = messages.notification(row.payload, with_image=False, runbook=runbook,
                                        can_retry=can_retry, explanation=reasons(job))
        text, blocks = message.text, list(message.blocks)
        if incident is not None and incident.recovered_at is not None:
            blocks.append(recovered_note(incident.job_type, incident.recovered_at))
        elif incident is not None:
            blocks.append(incident_note(incident.error_code, incident.job_type))
    if page is not None and not (incident is not None and incident.recovered_at):
        blocks += page_blocks(key, page_state(page))
    return text, blocks
