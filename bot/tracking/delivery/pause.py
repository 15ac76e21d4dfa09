"""The workspace-wide pause: while Slack refuses the bot token itself (``invalid_auth``,
``token_revoked`` …) no post can succeed anywhere, so delivery stops instead of failing
notifications, says so loudly, and resumes by itself once the token works.

The pause is recorded in the database (``delivery_state``), so every sender honours it
and ``/healthz`` shows it; each process probes ``auth.test`` on its own schedule. See
``docs/delivery.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ...domain.messaging import DeliveryError, WorkspaceUnavailable
from ...telemetry.metrics import DELIVERY_PAUSED
from .outbox import Outbox

log = logging.getLogger(__name__)


@dataclass
class _State:
    reason: str
    next_probe: datetime
    probe_delay: timedelta
    next_log: datetime


class WorkspacePause:
    """One process's view of the pause. ``probe`` raises like a post while the token is
    refused (``SlackMessenger.probe``: ``auth.test``); None checks nothing (the console
    demo has no token)."""

    def __init__(
        self,
        outbox: Outbox,
        probe: Callable[[], None] | None,
        *,
        probe_every: timedelta,
        max_probe_every: timedelta,
        log_every: timedelta,
    ) -> None:
        self.outbox = outbox
        self.probe = probe
        self.probe_every = probe_every
        self.max_probe_every = max_probe_every
        self.log_every = log_every
        self.state: _State | None = None

    def allows_delivery(self, now: datetime) -> bool:
        """False while Slack refuses the token (as seen here or, per the database, by
        another process); probes when due and lifts the pause once the token works."""
        shared = self.outbox.workspace_pause()
        if shared is None and self.state is None:
            DELIVERY_PAUSED.set(0)
            return True
        if self.state is None:
            assert shared is not None
            # Paused by another process, or before a restart: check the token at once.
            self.state = _State(shared[0], now, self.probe_every, now)
        state = self.state
        DELIVERY_PAUSED.set(1)
        if now < state.next_probe:
            self._log(now)
            return False
        try:
            if self.probe is not None:
                self.probe()
        except WorkspaceUnavailable as e:
            state.reason = str(e.error or e)
            self._schedule_probe(now)
            self._log(now)
            return False
        except DeliveryError as e:
            log.info("auth.test did not answer (%s); delivery stays paused", e)
            self._schedule_probe(now)
            return False
        self.state = None
        self.outbox.resume_workspace()
        DELIVERY_PAUSED.set(0)
        log.warning("Slack accepts SLACK_BOT_TOKEN again: delivery resumed (%d waiting)",
                    self.outbox.depth())
        return True

    def start(self, reason: str, now: datetime) -> None:
        """Slack just refused the token: pause every sender and say so."""
        self.outbox.pause_workspace(reason, now=now)
        self.state = _State(reason, now + self.probe_every, self.probe_every, now)
        DELIVERY_PAUSED.set(1)
        self._log(now)

    def _schedule_probe(self, now: datetime) -> None:
        assert self.state is not None
        self.state.next_probe = now + self.state.probe_delay
        self.state.probe_delay = min(self.state.probe_delay * 2, self.max_probe_every)

    def _log(self, now: datetime) -> None:
        state = self.state
        if state is None or now < state.next_log:
            return
        state.next_log = now + self.log_every
        log.error("Slack refuses SLACK_BOT_TOKEN (%s): delivery is paused and %d "
                  "notifications wait, none is lost. Fix SLACK_BOT_TOKEN (reinstall the "
                  "app to get a new token); delivery resumes by itself once auth.test "
                  "accepts it (next check in %s).", state.reason, self.outbox.depth(),
                  max(state.next_probe - now, timedelta(0)))
