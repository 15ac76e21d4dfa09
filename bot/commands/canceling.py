"""The Cancel button: who may press it, MetaStudio's cancel, and what everyone is told.

Slack's confirm dialog has already asked "Cancel this job?" before the click arrives.
The job is looked at first (fresh): only a WAITING job is sent to MetaStudio, and a job
that started between the card and the click is explained instead. MetaStudio may still
refuse (the job started in between): its refusal is explained in the same words.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

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


def cancel(jobs: JobsAPI, operations: Operations | None, policy: CancelPolicy,
           job_id: str, ctx: Context, *, fresh: Callable[[str], Job | None],
           note: ThreadNote | None,
           claim: Callable[[str], str | None] | None = None,
           release: Callable[[str], None] | None = None) -> Reply:
    """Cancel ``job_id`` for ``ctx.user_id`` and answer them; the result and who pressed
    it also go into the job's tracking thread (``note``). ``claim`` makes presses at the
    same moment one cancel: the one who claimed it first sends the POST, the others are
    told who does (``release`` gives the claim back when MetaStudio could not be asked)."""
    if not policy.enabled or operations is None:
        return notice_reply("Canceling from Slack is off for this bot (`CANCEL_ALLOWED`).")
    if not policy.allows(ctx.user_id):
        return _line(f"🔒 Only {policy.who()} may cancel jobs from Slack.")
    job = fresh(job_id)
    if job is None:
        return notice_reply(f"No job {code(job_id)} found; nothing was canceled.")
    if job.state != JobState.WAITING:
        return _answer(job, ctx, f"Nothing canceled: {code(job_id)} is "
                                 f"{_state(job)} now, and MetaStudio cancels only waiting jobs.")
    key = f"cancel:{job_id}"
    holder = claim(key) if claim is not None else None
    if holder is not None and holder != ctx.user_id:
        return _line(f"<@{holder}> is canceling {code(job_id)} right now; it is sent once.")
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
        _note(note, ctx, job_id, f"⚠️ <@{ctx.user_id}> tried to cancel: {line}")
        return _answer(after, ctx, line)
    after = fresh(job_id) or job
    line = f"🚫 <@{ctx.user_id}> canceled {code(job_id)}."
    _note(note, ctx, job_id, line)
    return _answer(after, ctx, line)


def _state(job: Job) -> str:
    return escape(state_label(job).split(" ", 1)[-1].lower())


def _note(note: ThreadNote | None, ctx: Context, job_id: str, line: str) -> None:
    if note is None:
        return
    try:
        note(ctx, job_id, line)
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
