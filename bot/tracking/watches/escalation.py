"""Unanswered pages, reminded (docs/oncall.md): once ``every`` after a page was posted
nobody acknowledged it, it is repeated in its thread to the same groups; as long again
later, the channel's escalation groups are paged. A snooze moves the next reminder; an
acknowledgement or a recovered incident ends them. Each reminder is an outbox row written
with the page's step, so it is sent exactly once by whichever process gets there first."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from ..delivery.outbox import Outbox
from ..delivery.pages import PageStore
from ..store.database import Store

log = logging.getLogger(__name__)


class EscalationWatch:
    def __init__(self, store: Store, outbox: Outbox, *, every: timedelta,
                 clock: Callable[[], datetime]) -> None:
        self.pages = PageStore(store)
        self.outbox = outbox
        self.every = every
        self.clock = clock

    def run_once(self) -> int:
        """Write the reminders that are due; how many were written."""
        now = self.clock()
        written = 0
        for page in self.pages.due(now):
            if self.pages.remind(self.outbox, page, now, self.every):
                written += 1
                log.info("page %s in %s unacknowledged: %s", page.page_key, page.channel,
                         "repeated" if page.repeats == 0 else "escalated")
        return written
