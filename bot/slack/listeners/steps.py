"""Workflow Builder custom steps: ``function_executed`` for each callback id declared in
manifest.yaml's ``functions`` (bot.domain.steps.STEPS).

Acknowledged at once (Slack's 3 seconds); the step runs after, on Bolt's listener
threads, through :class:`bot.commands.steps.StepRunner`. It completes with Bolt's
``complete`` / ``fail`` (``functions.completeSuccess`` / ``completeError``, with the
execution's own token), or, for a wait on a running job, later, from tracking
(bot/tracking/polling/waits.py). An execution Slack delivers again is run once.

Tolerant of what it is sent: a field missing or of another type is taken as absent,
never a crash (the HTTP front checks the body's shape before this).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from slack_bolt import App, BoltContext, Complete, Fail
from slack_sdk.errors import SlackApiError

from ...commands.steps import Execution, StepResult
from ...commands.types import Context
from ...domain.steps import STEPS
from ..services import Services
from .answer import ack_now

log = logging.getLogger(__name__)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def person(inputs: Mapping[str, Any]) -> str:
    """Who the step runs for: its ``user`` input, a ``slack#/types/user_context``
    (``{"id": "U…", "secret": …}``, set by Slack to the person who ran the workflow) or
    a user id."""
    user = inputs.get("user")
    if isinstance(user, Mapping):
        user = user.get("id")
    return user.strip() if isinstance(user, str) else ""


def register(app: App, services: Services) -> None:
    steps = services.steps
    if steps is None:
        return

    def run_step(body: dict[str, Any], context: BoltContext, complete: Complete,
                 fail: Fail) -> None:
        event = _mapping(body.get("event"))
        callback_id = str(_mapping(event.get("function")).get("callback_id") or "")
        execution = Execution(
            execution_id=str(event.get("function_execution_id")
                             or context.function_execution_id or ""),
            token=str(event.get("bot_access_token") or context.function_bot_access_token
                      or ""),
            inputs=_mapping(event.get("inputs")))
        if not execution.execution_id:
            log.warning("function_executed without a function_execution_id; ignored")
            return
        try:
            if not steps.first_run(callback_id, execution):
                log.info("step %s delivered again; it ran once", execution.execution_id)
                return
            user = person(execution.inputs)
            tz = services.timezones.resolve(user) if user else services.timezones.fallback
            result = steps.run(callback_id, execution, Context(user, "", tz))
        except Exception:
            log.exception("step %s (%s) could not run", execution.execution_id, callback_id)
            result = StepResult(error="Something went wrong on our side; run the workflow "
                                      "again.")
        _finish(result, execution.execution_id, complete, fail)

    for callback_id in STEPS:
        app.function(callback_id)(ack=ack_now, lazy=[run_step])


def _finish(result: StepResult, execution_id: str, complete: Complete, fail: Fail) -> None:
    """Complete the step now, unless tracking completes it later (a wait)."""
    try:
        if result.outputs is not None:
            complete(outputs=result.outputs)
        elif result.error is not None:
            fail(error=result.error)
    except SlackApiError as e:
        error = e.response.get("error") if e.response is not None else None
        log.warning("Slack refused the completion of step %s: %s", execution_id, error)
