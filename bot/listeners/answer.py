"""What the command and action listeners share: the request's Context and the answer.

The router turns every failure into a Reply (upstream errors with their request id,
bugs with a reference to quote), so the listeners only send what it returns.
"""

from __future__ import annotations

import logging

from slack_bolt import Ack, BoltContext, Respond

from ..commands.types import Context
from ..reply import Reply
from ..services import Services
from ..views.blocks import without_images

log = logging.getLogger(__name__)


def ack_now(ack: Ack) -> None:
    """The ack half of the listeners that still use Bolt's lazy listeners (Home,
    shortcuts): Slack drops an interaction not acknowledged within 3 seconds, so nothing
    else may happen before it. Commands and clicks queue their answer instead
    (bot.answer_queue)."""
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


def send(respond: Respond, reply: Reply) -> None:
    """Answer through the response_url; if Slack refuses the message because it could
    not download a cover thumbnail, answer again with links instead of images."""
    response = respond(**reply.to_payload())
    if response.status_code == 200 or "invalid_blocks" not in (response.body or ""):
        if response.status_code != 200:
            log.warning("response_url refused the answer: %s %s", response.status_code,
                        response.body)
        return
    log.info("Slack could not fetch an image; answering without images")
    reply.blocks = without_images(reply.blocks)
    respond(**reply.to_payload())
