"""What the user sees when MetaStudio refused or failed a request."""

from __future__ import annotations

from ..domain.reply import Reply
from ..metastudio.errors import MetaStudioError
from .blocks import context, section
from .format import escape

#: What the bot was doing, per command (metrics label), for "Couldn't …".
_DOING = {
    "status": "look up those jobs",
    "summary": "build the summary",
    "track": "look up the jobs to track",
    "button:refresh": "refresh the job",
    "quota": "read the video minutes",
    "stuck": "look for stuck jobs",
    "button:cancel": "cancel the job",
    "button:notify": "look up the job",
}


def doing(command: str) -> str:
    """``look up those jobs``: what ``command`` (a metrics label) was doing."""
    return _DOING.get(command, "list the jobs")


def upstream_error_reply(err: MetaStudioError, *, doing: str) -> Reply:
    """``⚠️ Couldn't <doing>: MetaStudio answered HTTP 500 · MSS.00000004 … · request id
    …`` and what to do about it. The details are what a support ticket needs; never a
    traceback."""
    line = f"⚠️ {upstream_error_line(err, doing=doing)}"
    return Reply(text=escape(line), blocks=[section(escape(line)), context(escape(err.hint))])


def upstream_error_line(err: MetaStudioError, *, doing: str) -> str:
    """``Couldn't <doing>: MetaStudio answered HTTP 500 · MSS.00000004 … · request id …``,
    plain text (a workflow step's error says it so)."""
    details = err.details()
    if err.status is not None:
        what = f"MetaStudio answered {details}"
    else:  # no answer at all: connection failure, timeout, unreadable body
        what = f"{err.message} ({details})" if details else err.message
    return f"Couldn't {doing}: {what}."
