"""``functions.completeSuccess`` / ``functions.completeError`` for a step the bot
completes later (a wait), with the token of that execution
(:class:`bot.domain.steps.StepCompleter`).

Slack's answers become the errors the sender acts on, as for messages
(:func:`bot.slack.messenger.delivery_error`), with two differences: a refused token is
this execution's alone (it expires 15 minutes after the step started, and is revoked
once the step completes), so it fails the one completion instead of pausing delivery;
and an execution Slack no longer runs is :class:`~bot.domain.steps.StepGone`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ..domain.messaging import (
    DeliveryError,
    RateLimited,
    TransientDeliveryError,
    WorkspaceUnavailable,
)
from ..domain.steps import StepGone
from .messenger import CALL_TIMEOUT, delivery_error

#: https://docs.slack.dev/reference/methods/functions.completeSuccess (errors).
GONE = frozenset({"execution_not_in_running_state", "function_execution_not_found"})


class SlackStepCompleter:
    """Completes executions at ``base_url`` (``SLACK_API_URL``); one short-lived client
    per call, since each execution has its own token."""

    def __init__(self, base_url: str, *, timeout: float = CALL_TIMEOUT) -> None:
        self.base_url = base_url
        self.timeout = int(timeout)

    def complete(self, execution_id: str, token: str, outputs: Mapping[str, Any]) -> None:
        self._call("functions_completeSuccess", token, function_execution_id=execution_id,
                   outputs=dict(outputs))

    def fail(self, execution_id: str, token: str, error: str) -> None:
        self._call("functions_completeError", token, function_execution_id=execution_id,
                   error=error)

    def _call(self, method: str, token: str, **args: Any) -> None:
        # No retry handlers: a 429 or 5xx comes back to the sender's own schedule.
        client = WebClient(token=token, base_url=self.base_url, timeout=self.timeout)
        try:
            getattr(client, method)(**args)
        except SlackApiError as e:
            raise completion_error(method, e) from e
        except (OSError, ValueError) as e:
            raise TransientDeliveryError(f"{method}: {e!r}") from e


def completion_error(method: str, e: SlackApiError) -> DeliveryError:
    """Slack's refusal of a completion, as the sender's errors."""
    error = delivery_error(method, e)
    if error.error in GONE:
        return StepGone(str(error), error=error.error)
    if isinstance(error, RateLimited | TransientDeliveryError):
        return error  # waited out by the sender
    if isinstance(error, WorkspaceUnavailable):
        # The execution's own token (expired, or revoked once the step completed).
        return DeliveryError(f"{error} (the step's token)", error=error.error)
    # Nothing else here is a channel's or a message's trouble: this completion fails.
    return DeliveryError(str(error), error=error.error)
