"""The runbook's next step for an error code, as one mrkdwn line (cards, the triage
block and failure notifications all show the same words)."""

from __future__ import annotations

from ..domain.runbook import DEFAULT, Runbook
from .format import escape, link


def next_step(error_code: str | None, runbook: Runbook = DEFAULT) -> str | None:
    """``*Next step:* …`` with the runbook's link, or None for a code it lacks."""
    entry = runbook.get(error_code)
    if entry is None:
        return None
    line = f"*Next step:* {escape(entry.hint)}"
    return f"{line} {link(entry.link, 'More')}" if entry.link else line
