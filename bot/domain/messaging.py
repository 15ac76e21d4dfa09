"""Posting messages, as a protocol with one error tree.

The Slack implementation (``bot.slack.messenger``) turns Slack's answers into these
errors; the console demo prints instead. The notifier branches on the class: rate limits
are rescheduled, channel errors pause tracking, image failures retry without the image,
size refusals split the message, workspace-wide refusals pause all delivery
(``docs/delivery.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from slack_sdk.models.blocks import Block

Blocks = Sequence[Block | dict[str, Any]]


class DeliveryError(Exception):
    """Root: a message could not be posted or updated."""

    def __init__(self, message: str, *, error: str | None = None) -> None:
        super().__init__(message)
        #: Slack's ``error`` string (``not_in_channel`` …) when there was one.
        self.error = error


class ChannelUnavailable(DeliveryError):
    """Permanent for this channel: ``not_in_channel``, ``channel_not_found``, ``is_archived``."""


class RateLimited(DeliveryError):
    """HTTP 429; try again after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float, error: str | None = None) -> None:
        super().__init__(message, error=error)
        self.retry_after = retry_after


class ImageRejected(DeliveryError):
    """``invalid_blocks`` / "downloading image failed": send again without the image."""


class TransientDeliveryError(DeliveryError):
    """5xx, connection errors, timeouts: try again later."""


class MessageTooLong(DeliveryError):
    """Slack refused the message for its size (``msg_blocks_too_long``, ``msg_too_long``,
    more than 50 blocks): send it again in smaller parts, never give up on it."""


class WorkspaceUnavailable(DeliveryError):
    """The token itself is refused (``invalid_auth``, ``token_revoked``,
    ``account_inactive`` …): nothing can be posted anywhere until SLACK_BOT_TOKEN is
    fixed, so delivery pauses instead of failing messages."""


class Messenger(Protocol):
    def post(
        self,
        channel: str,
        *,
        text: str,
        blocks: Blocks | None = None,
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
    ) -> str:
        """Post a message (a thread reply with ``thread_ts``) and return its ``ts``."""
        ...

    def update(self, channel: str, ts: str, *, text: str, blocks: Blocks | None = None) -> None:
        """Edit a message the bot posted."""
        ...
