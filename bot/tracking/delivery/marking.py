"""Idempotent posting: each notification's message carries its outbox key as a marker.

A sender that dies after Slack accepted a message but before the outbox recorded it
leaves the row "in doubt". Before posting such a row again, the sender looks for its
marker where the message would be (the thread, or the channel's recent history) and
records the message it finds instead of posting a second one.

:class:`bot.slack.messenger.SlackMessenger` marks messages with Slack message metadata: the
marker rides inside the job event a notification carries (:mod:`bot.domain.job_events`),
or alone.
A :class:`~bot.domain.messaging.Messenger` that cannot (the console demo) is wrapped in
:class:`UnmarkedMessenger`: it finds nothing, so an in-doubt row is posted again, i.e.
at-least-once for that messenger.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from ...domain.job_events import Event
from ...domain.messaging import Blocks, Messenger


@runtime_checkable
class MarkedMessenger(Protocol):  # pragma: no mutate block (isinstance needs its members)
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
        """Post a message carrying ``marker`` (inside ``event``, the job end it tells,
        when there is one); return its ``ts``."""
        ...

    def update(self, channel: str, ts: str, *, text: str, blocks: Blocks | None = None) -> None:
        """Edit a message the bot posted."""
        ...

    def marked(
        self, channel: str, *, thread_ts: str | None = None, oldest: datetime | None = None
    ) -> dict[str, str]:
        """Markers of the bot's messages in a thread (or, without ``thread_ts``, the
        channel since ``oldest``), each with its message's ``ts``."""
        ...


class UnmarkedMessenger:
    """A plain :class:`Messenger` seen as a :class:`MarkedMessenger` that finds nothing."""

    def __init__(self, inner: Messenger) -> None:
        self.inner = inner

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
        return self.inner.post(channel, text=text, blocks=blocks, thread_ts=thread_ts,
                               reply_broadcast=reply_broadcast)

    def update(self, channel: str, ts: str, *, text: str, blocks: Blocks | None = None) -> None:
        self.inner.update(channel, ts, text=text, blocks=blocks)

    def marked(
        self, channel: str, *, thread_ts: str | None = None, oldest: datetime | None = None
    ) -> dict[str, str]:
        return {}


def as_marked(messenger: Messenger | MarkedMessenger) -> MarkedMessenger:
    """``messenger`` itself if it can mark messages, else wrapped."""
    if isinstance(messenger, MarkedMessenger):
        return messenger
    return UnmarkedMessenger(messenger)
