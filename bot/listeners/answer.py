"""What the command and action listeners share: the empty ack and the request's Context.

The router turns every failure into a Reply (upstream errors with their request id,
bugs with a reference to quote), so the listeners only send what it returns.
"""

from __future__ import annotations

from slack_bolt import Ack, BoltContext

from ..commands.types import Context
from ..services import Services


def ack_now(ack: Ack) -> None:
    """The whole ack half of a listener: Slack drops an interaction that is not
    acknowledged within 3 seconds, so nothing else may happen before it."""
    ack()


def request_context(services: Services, context: BoltContext, channel_name: str | None) -> Context:
    """Who asked and where. Calls users.info (cached), so only after the ack."""
    user_id = context.user_id or ""
    return Context(
        user_id=user_id,
        channel_id=context.channel_id or "",
        tz=services.timezones.resolve(user_id),
        team_id=context.team_id,
        channel_name=channel_name,
    )
