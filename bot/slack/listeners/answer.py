"""What the command and action listeners share: the answer to give, as plain data, and
the code that gives it.

A listener acks at once and hands a :class:`Work` to a :class:`Dispatcher`: here
:class:`AnswerHere`, the bot's bounded executor in this process
(:mod:`bot.slack.answer_queue`), or under ``videojobs-bot http`` the answering process
(:mod:`bot.serve.answer_process`), so the acks keep a core to themselves. Either way
:func:`perform` gives the answer. The
router turns every failure into a Reply (upstream errors with their request id, bugs
with a reference to quote), so this only sends what it returns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from slack_bolt import Ack, BoltContext

from ...commands.types import Context
from ...domain.reply import Reply
from ...views.blocks import without_images
from ..answer_queue import AnswerQueue
from ..services import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Work:
    """One answer to give: a command's text, or a click's action and value, with who
    asked, where, and the response_url to answer at. Plain data, so it can cross to the
    answering process."""

    response_url: str | None
    user_id: str
    channel_id: str
    team_id: str | None
    channel_name: str | None
    text: str = ""
    #: Set for a button click; None for a slash command.
    action_id: str | None = None
    value: str = ""
    #: The thread of the (non-ephemeral) message a button was on.
    thread_ts: str | None = None

    @classmethod
    def command(cls, command: dict[str, Any], context: BoltContext) -> Work:
        return cls(response_url=command.get("response_url"), user_id=context.user_id or "",
                   channel_id=context.channel_id or "", team_id=context.team_id,
                   channel_name=command.get("channel_name"), text=command.get("text") or "")

    @classmethod
    def action(cls, body: dict[str, Any], action: dict[str, Any], context: BoltContext) -> Work:
        return cls(response_url=body.get("response_url"), user_id=context.user_id or "",
                   channel_id=context.channel_id or "", team_id=context.team_id,
                   channel_name=_dict(body.get("channel")).get("name"),
                   action_id=action["action_id"], value=action.get("value") or "",
                   thread_ts=_thread_of(body))


def _thread_of(body: dict[str, Any]) -> str | None:
    """The thread a click's message is in (its own ts when it is a thread's root); None
    for an ephemeral message, which cannot be replied to."""
    container, message = _dict(body.get("container")), _dict(body.get("message"))
    if container.get("is_ephemeral"):
        return None
    ts = message.get("thread_ts") or message.get("ts") or container.get("message_ts")
    return ts if isinstance(ts, str) else None


def _dict(value: Any) -> dict[str, Any]:
    """A signed body can still hold any JSON where Slack sends an object."""
    return value if isinstance(value, dict) else {}


class Dispatcher(Protocol):
    """Who answers: ``submit`` queues ``work`` to be answered, or returns False at once
    (nothing queued) when the bot is too busy, so the ack can say so."""

    def submit(self, work: Work) -> bool: ...


class AnswerHere:
    """Answers in this process, on ``threads`` threads of a bounded queue."""

    def __init__(self, services: Services, threads: int | None = None) -> None:
        self.services = services
        self.queue = AnswerQueue(threads or services.answer_threads)

    def submit(self, work: Work) -> bool:
        return self.queue.submit(perform, self.services, work)


def perform(services: Services, work: Work) -> None:
    """Route ``work`` and answer at its response_url (users.info first, for the
    timezone: only ever after the ack)."""
    ctx = Context(user_id=work.user_id, channel_id=work.channel_id,
                  tz=services.timezones.resolve(work.user_id), team_id=work.team_id,
                  channel_name=work.channel_name, thread_ts=work.thread_ts)
    if work.action_id is None:
        reply: Reply | None = services.router.handle(work.text, ctx)
    else:
        reply = services.router.handle_action(work.action_id, work.value, ctx)
    if reply is not None:
        send(services, work.response_url, reply)
        follow_up(services, work.response_url, reply)


def follow_up(services: Services, response_url: str | None, reply: Reply) -> None:
    """Replace ``reply`` (already sent) with its follow-up, when it has one that changes
    something: a response_url takes up to five answers within 30 minutes
    (https://api.slack.com/interactivity/handling#message_responses)."""
    if reply.followup is None:
        return
    later = reply.followup()
    if later is None:
        return
    later.replace_original = True
    later.response_type = reply.response_type
    send(services, response_url, later)


def ack_now(ack: Ack) -> None:
    """The ack half of the listeners that still use Bolt's lazy listeners (Home,
    shortcuts): Slack drops an interaction not acknowledged within 3 seconds, so nothing
    else may happen before it. Commands and clicks queue their answer instead
    (:func:`dispatch`)."""
    ack()


def send(services: Services, response_url: str | None, reply: Reply) -> None:
    """Answer at ``response_url``; if Slack refuses the message because it could not
    download a cover thumbnail, answer again with links instead of images."""
    posted = services.response_urls.post(response_url, reply.to_payload())
    if posted.status_code == 200 or "invalid_blocks" not in posted.body:
        if posted.status_code != 200:
            log.warning("response_url refused the answer: %s %s", posted.status_code,
                        posted.body[:200])
        return
    log.info("Slack could not fetch an image; answering without images")
    reply.blocks = without_images(reply.blocks)
    services.response_urls.post(response_url, reply.to_payload())
