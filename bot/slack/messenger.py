"""The Slack side of :class:`bot.domain.messaging.Messenger`: ``chat.postMessage`` and
``chat.update``, with Slack's failures turned into the messaging error tree.

Notifications never wait inside a request: a 429 becomes :class:`RateLimited` with the
``Retry-After`` seconds, and the outbox reschedules the row (docs/slack-platform.md,
"Rate limits and retries": slack_sdk's ``RateLimitErrorRetryHandler`` would block the
thread, and a retried post after a lost answer could post twice). The client given is
therefore copied without retry handlers, and with a bounded timeout: the sender's lease
must outlast one call (``docs/delivery.md``).
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ..domain.job_events import Event, marker_of, metadata
from ..domain.messaging import (
    Blocks,
    ChannelUnavailable,
    DeliveryError,
    ImageRejected,
    MessageTooLong,
    RateLimited,
    TransientDeliveryError,
    WorkspaceUnavailable,
)

#: Errors that will not go away by retrying: the bot cannot post in the channel.
CHANNEL_ERRORS = frozenset({
    "not_in_channel", "channel_not_found", "is_archived", "team_access_not_granted",
    "restricted_action", "restricted_action_read_only_channel",
    "restricted_action_thread_only_channel", "restricted_action_non_threadable_channel",
})
TRANSIENT_ERRORS = frozenset({
    "internal_error", "fatal_error", "service_unavailable", "request_timeout",
})
#: The token or the workspace is refused: no post can succeed anywhere until an operator
#: fixes SLACK_BOT_TOKEN (https://api.slack.com/methods/chat.postMessage#errors).
WORKSPACE_ERRORS = frozenset({
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
    "no_permission", "org_login_required", "ekm_access_denied", "missing_scope",
    "not_allowed_token_type",
})
#: Refused for its size: ``msg_blocks_too_long`` is undocumented, reported at about
#: 12,000 characters of block text (https://github.com/slackapi/bolt-js/issues/2509).
SIZE_ERRORS = frozenset({"msg_too_long", "msg_blocks_too_long"})
#: ``invalid_blocks`` details that mean "too many / too long", not "malformed".
_SIZE_DETAILS = ("no more than", "must be less than", "too long", "too many")
#: Seconds one Web API call may take; the sender's lease is several times longer.
CALL_TIMEOUT = 15.0


class SlackMessenger:
    """Posts and edits messages with a :class:`~slack_sdk.WebClient`.

    >>> messenger = SlackMessenger(WebClient(token="xoxb-…"))
    >>> ts = messenger.post("C123", text="done", marker="track:C123:job-1:SUCCEED")

    Raises the errors of :mod:`bot.domain.messaging`: ``RateLimited``,
    ``ChannelUnavailable``, ``ImageRejected``, ``MessageTooLong``,
    ``WorkspaceUnavailable``, ``TransientDeliveryError`` or ``DeliveryError``.
    """

    def __init__(self, client: WebClient, *, timeout: float = CALL_TIMEOUT) -> None:
        self.client = without_retries(client, timeout=timeout)

    def post(
        self,
        channel: str,
        *,
        text: str,
        blocks: Blocks | None = None,
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
        marker: str | None = None,
        event: Event | None = None,
    ) -> str:
        """Post (a thread reply with ``thread_ts``). The message's metadata is ``event``
        (a job's end, :mod:`bot.domain.job_events`) with ``marker`` in it, so
        :meth:`marked` can find it again. Returns the message ``ts``."""
        args: dict[str, Any] = {"channel": channel, "text": text}
        if blocks:
            args["blocks"] = [_block_dict(b) for b in blocks]
        if thread_ts:
            args["thread_ts"] = thread_ts
            args["reply_broadcast"] = reply_broadcast
        found = metadata(event, marker or None)
        if found is not None:
            args["metadata"] = found
        response = self._call("chat_postMessage", **args)
        return str(response["ts"])

    def update(self, channel: str, ts: str, *, text: str, blocks: Blocks | None = None) -> None:
        """Edit a message the bot posted (``chat.update``)."""
        args: dict[str, Any] = {"channel": channel, "ts": ts, "text": text}
        if blocks is not None:
            args["blocks"] = [_block_dict(b) for b in blocks]
        self._call("chat_update", **args)

    def marked(
        self, channel: str, *, thread_ts: str | None = None, oldest: datetime | None = None
    ) -> dict[str, str]:
        """Markers found in a thread (``conversations.replies``) or in the channel since
        ``oldest`` (``conversations.history``), with their messages' ts."""
        if channel[:1] in ("U", "W"):
            # A direct message is posted to the user's id, but its history is read by
            # the DM's own id: https://api.slack.com/methods/conversations.open
            channel = str(self._call("conversations_open", users=channel)["channel"]["id"])
        if thread_ts:
            method, args = "conversations_replies", {"ts": thread_ts}
        else:
            method, args = "conversations_history", {}
            if oldest is not None:
                args["oldest"] = f"{oldest.timestamp():.6f}"
        found: dict[str, str] = {}
        cursor = None
        while True:
            response = self._call(method, channel=channel, include_all_metadata=True,
                                  limit=200, cursor=cursor, **args)
            for message in response.get("messages") or []:
                # The marker alone, or inside a job event (bot.domain.job_events).
                key = marker_of(message.get("metadata"))
                if key:
                    found[key] = message["ts"]
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return found

    def probe(self) -> None:
        """``auth.test``: returns when the token works, raises like a post otherwise
        (the sender asks this while delivery is paused for the workspace)."""
        self._call("auth_test")

    def _call(self, method: str, **args: Any) -> Any:
        try:
            return getattr(self.client, method)(**args)
        except SlackApiError as e:
            raise delivery_error(method, e) from e
        except (OSError, ValueError) as e:
            # urllib's URLError, timeouts, resets (OSError); an unparsable 5xx body.
            raise TransientDeliveryError(f"{method}: {e!r}") from e


def without_retries(client: WebClient, *, timeout: float | None = None) -> WebClient:
    """A copy of ``client`` that never retries by itself (a 429 or 5xx comes back to the
    caller at once, for its own scheduling) and, with ``timeout``, never waits longer."""
    plain = copy.copy(client)
    plain.retry_handlers = []
    if timeout is not None:
        plain.timeout = min(plain.timeout, int(timeout)) or 1
    return plain


def delivery_error(method: str, e: SlackApiError) -> DeliveryError:
    """Slack's refusal of a ``method`` call as an error of :mod:`bot.domain.messaging`."""
    response = e.response
    status = response.status_code
    data = response.data if isinstance(response.data, dict) else {}
    error = str(data.get("error") or "")
    if status == 429 or error == "ratelimited":
        # Slack: HTTP 429 with Retry-After in seconds; one message/second/channel.
        retry_after = _retry_after(response.headers)
        return RateLimited(f"{method}: rate limited for {retry_after:g} s",
                           retry_after=retry_after, error=error or "ratelimited")
    if error in WORKSPACE_ERRORS:
        return WorkspaceUnavailable(f"{method}: {error}", error=error)
    if error in CHANNEL_ERRORS:
        return ChannelUnavailable(f"{method}: {error}", error=error)
    details = " ".join(str(d) for d in data.get("errors") or [])
    if error in SIZE_ERRORS or (
        error == "invalid_blocks" and any(d in details.lower() for d in _SIZE_DETAILS)
    ):
        return MessageTooLong(f"{method}: {error} {details}".strip(), error=error)
    if error == "invalid_blocks" and "image" in details.lower() and "download" in details.lower():
        # Slack fetches image_url while posting and refuses the whole message when the
        # fetch fails ("downloading image failed"): resend without the image.
        return ImageRejected(f"{method}: {error} {details}", error=error)
    if status >= 500 or error in TRANSIENT_ERRORS:
        return TransientDeliveryError(f"{method}: HTTP {status} {error}".strip(), error=error)
    return DeliveryError(f"{method}: {error or f'HTTP {status}'} {details}".strip(), error=error)


def _retry_after(headers: Any) -> float:
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value if isinstance(value, str) else value[0]))
            except (TypeError, ValueError, IndexError):
                break
    return 1.0


def _block_dict(block: Any) -> dict[str, Any]:
    return block.to_dict() if hasattr(block, "to_dict") else dict(block)

