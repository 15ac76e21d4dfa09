"""A workflow step's completion as an outbox row: written in the transaction that decides
it (the job ended, it no longer exists, the step's maximum wait passed), delivered once
by the sender like a notification (leases checked right before the call, Retry-After,
backoff, crash recovery), with ``functions.completeSuccess`` or ``completeError``.

One row per execution: its ``dedupe_key`` is ``step:<function_execution_id>`` (UNIQUE),
and the row a wait writes when it starts, due at its deadline with the timeout error, is
the same row a job's end later turns into the success (:mod:`..polling.waits`). Whatever
happens, the outbox delivers one row, so the step completes once.

All completions go to one destination, :data:`DESTINATION` (the outbox's ``channel``):
``functions.complete*`` are Tier 3 methods of the workspace, not of a channel, so they
share one pace and one Retry-After. A completion whose earlier attempt may have reached
Slack (the row is "in doubt") and that Slack now refuses as already completed
(:class:`~bot.domain.steps.StepGone`, or its token revoked, which Slack does when a step
completes) is done: nothing is completed twice.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from ...domain.messaging import DeliveryError, RateLimited, TransientDeliveryError
from ...domain.steps import StepCompleter, StepGone
from ..store.database import Store
from ..store.tables import step_runs
from .outbox import STEP, Notification
from .rows import Steps

log = logging.getLogger(__name__)

#: The outbox's row kind for a step completion.
KIND = STEP
#: The outbox's destination (``channel``) of every completion: not a Slack channel.
DESTINATION = "@workflow-steps"


def step_key(execution_id: str) -> str:
    """The one completion of ``execution_id``."""
    return f"step:{execution_id}"


def succeeded(execution_id: str, outputs: dict[str, Any]) -> dict[str, Any]:
    """The payload of a completion with ``outputs``."""
    return {"execution_id": execution_id, "outputs": outputs}


def failed(execution_id: str, error: str) -> dict[str, Any]:
    """The payload of a completion with an error (the step's error line)."""
    return {"execution_id": execution_id, "error": error}


class Completions:
    """Delivers ``step`` rows for the sender (``Sender(deliverers=…)``)."""

    def __init__(self, store: Store, completer: StepCompleter | None) -> None:
        self.store = store
        self.completer = completer

    def deliver(self, row: Notification) -> Steps:
        execution_id = str(row.payload.get("execution_id") or "")
        with self.store.begin() as conn:
            token = conn.execute(sa.select(step_runs.c.token).where(
                step_runs.c.execution_id == execution_id)).scalar()
        if self.completer is None or not token:
            raise DeliveryError(f"step {execution_id}: no way to complete it (no Slack, or "
                                "its token is gone)")
        yield  # the sender renews the leases and takes the pace's token
        try:
            if "outputs" in row.payload:
                self.completer.complete(execution_id, token, row.payload["outputs"])
            else:
                self.completer.fail(execution_id, token, str(row.payload.get("error")))
        except DeliveryError as e:
            # Slack revokes the token when the step completes, and then refuses it
            # (``token_revoked``) before it would say the step no longer runs.
            completed = isinstance(e, StepGone) or e.error == "token_revoked"
            if not completed or isinstance(e, RateLimited | TransientDeliveryError):
                raise
            if not row.in_doubt:
                raise DeliveryError(f"step {execution_id} no longer runs: {e}",
                                    error=e.error) from e
            log.info("step %s was completed by an earlier attempt", execution_id)
        with self.store.begin() as conn:
            # The token is useless from now on (Slack revokes it at completion).
            conn.execute(step_runs.update().where(step_runs.c.execution_id == execution_id)
                         .values(token=None))
        return "completed"
