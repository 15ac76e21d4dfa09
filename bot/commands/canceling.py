"""The Cancel button (and the "Cancel video job" workflow step): who may cancel,
MetaStudio's cancel, and what everyone is told.

Slack's confirm dialog has already asked "Cancel this job?" before the click arrives.
The job is looked at first (fresh): only a WAITING job is sent to MetaStudio, and a job
that started between the card and the click is explained instead. MetaStudio may still
refuse (the job started in between): its refusal is explained in the same words.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from ..domain.cancel import CancelPolicy
from ..domain.reply import Reply
from ..metastudio.api import JobsAPI
from ..metastudio.errors import MetaStudioError
from ..metastudio.models import Job, JobState
from ..metastudio.operations import Operations
from ..views.blocks import section
from ..views.cards import status_reply
from ..views.format import code, escape, state_label
from ..views.help import notice_reply
from .types import Context

log = logging.getLogger(__name__)

#: Posts a line in the job's tracking thread in the clicker's channel, if it has one.
ThreadNote = Callable[[Context, str, str], None]


@dataclass(frozen=True)
class Attempt:
    """What a cancel came to: whether the job was canceled, the line that says so or
    why not (mrkdwn), and the job as it is now (None: not looked at, or not found)."""

    canceled: bool
    line: str
    job: Job | None = None
    #: ``line`` is a plain notice (Slack's own words would need no markup).
    notice: bool = False


def attempt(operations: Operations | None, policy: CancelPolicy, job_id: str, user_id: str,
            *, fresh: Callable[[str], Job | None],
            note: Callable[[str], None] | None = None,
            claim: Callable[[str], str | None] | None = None,
            release: Callable[[str], None] | None = None) -> Attempt:
    """Cancel ``job_id`` for ``user_id`` (the Cancel button, the "Cancel video job"
    step): ``CANCEL_ALLOWED`` first, so a refused person costs no upstream call; then
    the job, fresh, and MetaStudio's cancel for a waiting one. ``note`` gets the line for
    the job's tracking thread. ``claim`` makes presses at the same moment one cancel:
    whoever claims ``cancel:JOB`` first sends the POST, the others are told who does
    (``release`` gives the claim back when MetaStudio could not be asked)."""
    if not policy.enabled or operations is None:
        return Attempt(False, "Canceling from Slack is off for this bot (`CANCEL_ALLOWED`).",
                       notice=True)
    if not policy.allows(user_id):
        return Attempt(False, f"🔒 Only {policy.who()} may cancel jobs from Slack.")
    job = fresh(job_id)
    if job is None:
        return Attempt(False, f"No job {code(job_id)} found; nothing was canceled.",
                       notice=True)
    if job.state != JobState.WAITING:
        return Attempt(False, f"Nothing canceled: {code(job_id)} is {_state(job)} now, and "
                              "MetaStudio cancels only waiting jobs.", job)
    key = f"cancel:{job_id}"
    holder = claim(key) if claim is not None else None
    if holder is not None and holder != user_id:
        return Attempt(False, f"<@{holder}> is canceling {code(job_id)} right now; it is "
                              "sent once.")
    try:
        operations.cancel(job_id, photo=job.is_photo)
    except MetaStudioError as e:
        if e.status is None or e.status >= 500 or e.status in (401, 403, 429):
            if release is not None:
                release(key)  # not sent (or not known to be): a press may try again
            raise  # the router explains upstream failures with their request id
        log.info("MetaStudio refused to cancel %s: %s", job_id, e)
        after = fresh(job_id) or job
        line = (f"MetaStudio refused to cancel {code(job_id)} ({e.details()}): it is "
                f"{_state(after)} now; only a waiting job can be canceled.")
        _note(note, f"⚠️ <@{user_id}> tried to cancel: {line}", job_id)
        return Attempt(False, line, after)
    after = fresh(job_id) or job
    line = f"🚫 <@{user_id}> canceled {code(job_id)}."
    _note(note, line, job_id)
    return Attempt(True, line, after)


def cancel(jobs: JobsAPI, operations: Operations | None, policy: CancelPolicy,
           job_id: str, ctx: Context, *, fresh: Callable[[str], Job | None],
           note: ThreadNote | None,
           claim: Callable[[str], str | None] | None = None,
           release: Callable[[str], None] | None = None) -> Reply:
    """Cancel ``job_id`` for ``ctx.user_id`` and answer them; the result and who pressed
    it also go into the job's tracking thread (``note``)."""
    in_thread = None if note is None else (lambda line: note(ctx, job_id, line))
    result = attempt(operations, policy, job_id, ctx.user_id, fresh=fresh, note=in_thread,
                     claim=claim, release=release)
    if result.job is None:
        return notice_reply(result.line) if result.notice else _line(result.line)
    return _answer(result.job, ctx, result.line)


def _state(job: Job) -> str:
    return escape(state_label(job).split(" ", 1)[-1].lower())


def _note(note: Callable[[str], None] | None, line: str, job_id: str) -> None:
    if note is None:
        return
    try:
        note(line)
    except Exception:  # the cancel happened; a thread line must not hide it
        log.exception("could not post the cancel note for %s", job_id)


def _answer(job: Job, ctx: Context, line: str) -> Reply:
    reply = status_reply([job], [], ctx.tz, post_value=None)
    reply.text = line
    reply.blocks = [*_line(line).blocks, *reply.blocks]
    return reply


def _line(mrkdwn: str) -> Reply:
    """One line already in mrkdwn (mentions, escaped code spans)."""
    return Reply(text=mrkdwn, blocks=[section(mrkdwn)])
