"""Why an announced job ended (issue #24, "A failure card that explains why"): the
assets' state and MetaStudio's own reason, for a failure's thread reply and its channel
announcement. Looked up once per job: a page's redraws (acknowledged, snoozed) and a
retried post reuse the answer for :data:`KEEP` seconds. A job that did not fail, block
or cancel costs nothing; a look-up that fails leaves the message as it was before, and
for :data:`QUIET` seconds no other job is looked up: the sender posts while MetaStudio is
down instead of waiting on it for every message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from cachetools import TTLCache

from ...domain.explain import EXPLAINED, Reason, explain_ended
from ...metastudio.api import DetailsAPI
from ...metastudio.assets import AssetLookup
from ...metastudio.errors import MetaStudioError
from ...metastudio.models import Job

log = logging.getLogger(__name__)

#: Seconds an answer is reused (a page is redrawn at most a few times in that time).
KEEP = 600.0
#: Seconds without look-ups after one failed.
QUIET = 60.0
#: Jobs remembered at once: a burst larger than this is an incident, one message.
REMEMBERED = 2048


class FailureReasons:
    """``reasons(job)``: why ``job`` ended, from the (cached) detail and asset look-ups."""

    def __init__(self, details: DetailsAPI, library: AssetLookup, *,
                 keep: float = KEEP, quiet: float = QUIET,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.details = details
        self.library = library
        self.quiet = quiet
        self.clock = clock
        self._known: TTLCache[str, tuple[Reason, ...]] = TTLCache(REMEMBERED, keep,
                                                                  timer=clock)
        self._quiet_until = float("-inf")
        self._lock = threading.Lock()  # the sender's threads share it

    def __call__(self, job: Job) -> tuple[Reason, ...]:
        if job.state not in EXPLAINED or not job.job_id:
            return ()
        with self._lock:
            known = self._known.get(job.job_id)
            if known is None and self.clock() < self._quiet_until:
                return ()
        if known is not None:
            return known
        try:
            reasons = explain_ended([job], self.details, self.library).get(job.job_id, ())
        except MetaStudioError as e:
            log.info("could not look up why %s ended (none for %.0f s): %s", job.job_id,
                     self.quiet, e)
            with self._lock:
                self._quiet_until = self.clock() + self.quiet
            return ()
        with self._lock:
            self._known[job.job_id] = reasons
        return reasons


def no_reasons(job: Job) -> tuple[Reason, ...]:
    """Where nothing can be looked up (a client without the asset operations)."""
    return ()
