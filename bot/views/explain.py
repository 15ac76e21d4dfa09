"""Why a job ended, as Slack mrkdwn: the lines of :func:`bot.domain.explain.explain`'s
reasons for a status card (``job_card(explanation=...)``) or an announcement
(:func:`explanation_block`). Ids and codes are code spans, names and free text escaped."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import SectionBlock

from ..domain.explain import Reason
from .blocks import section
from .format import code, escape, truncate

#: Room one line gets: a reason's free text (a review comment) can be long.
LINE_LIMIT = 300
#: An asset name shown in a line.
_NAME_LIMIT = 80


def explanation_lines(reasons: Sequence[Reason]) -> list[str]:
    """One ``• …`` line per reason, in order."""
    return [truncate("• " + reason.sentence(ident=code, text=_text), LINE_LIMIT)
            for reason in reasons]


def explanation_text(reasons: Sequence[Reason]) -> str | None:
    """``*Why:*`` and the lines, or None when there is nothing to say."""
    lines = explanation_lines(reasons)
    return "\n".join(["*Why:*", *lines]) if lines else None


def explanation_block(reasons: Sequence[Reason]) -> SectionBlock | None:
    """A section with :func:`explanation_text`, or None (for announcements)."""
    text = explanation_text(reasons)
    return section(text) if text else None


def _text(value: str) -> str:
    return escape(truncate(value, _NAME_LIMIT * 2))
