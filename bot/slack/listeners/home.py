"""App Home: ``app_home_opened`` publishes the person's tab (through the pacing
publisher, bot/slack/home.py), and the tab's buttons work as on cards: Refresh looks at a job
again, Track tracks a stuck job in the person's messages with the bot.

Registered before the generic block-action listener: a click on the Home tab has no
``response_url`` to answer through, so its answer is a republished tab.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ...commands.types import Context
from ...metastudio.query import valid_job_id
from ...views import actions
from ...views.home import HOME_REFRESH
from ..services import Services
from .answer import ack_now

log = logging.getLogger(__name__)


def _from_home(body: dict[str, Any]) -> bool:
    return (body.get("view") or {}).get("type") == "home"


def register(app: App, services: Services) -> None:
    home = services.home
    if home is None:
        return

    def publish_home(event: dict[str, Any], context: BoltContext) -> None:
        # The event also fires for the Messages tab, which shows no view.
        if event.get("tab", "home") != "home":
            return
        user = event.get("user") or context.user_id or ""
        home.opened(user, services.timezones.resolve(user))

    def home_action(body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        user = (body.get("user") or {}).get("id") or ""
        tz = services.timezones.resolve(user)
        action_id, value = action.get("action_id"), str(action.get("value") or "")
        notice = None
        if action_id == actions.REFRESH and valid_job_id(value):
            invalidate = getattr(services.router.jobs, "invalidate", None)
            if invalidate is not None:
                invalidate(value)
        elif action_id == actions.TRACK and valid_job_id(value):
            notice = _track_in_messages(services, client, user, value, tz)
        elif action_id != HOME_REFRESH:
            return
        home.opened(user, tz, notice=notice)

    app.event("app_home_opened")(ack=ack_now, lazy=[publish_home])
    app.block_action(re.compile(".*"), matchers=[_from_home])(ack=ack_now, lazy=[home_action])


def _track_in_messages(services: Services, client: WebClient, user: str, job_id: str,
                       tz: Any) -> str:
    """Track ``job_id`` in the person's direct messages with the bot; a line saying how
    it went (shown on top of the tab)."""
    try:
        dm = client.conversations_open(users=user)["channel"]["id"]
    except (SlackApiError, KeyError, TypeError) as e:
        log.warning("conversations.open for %s failed: %s", user, e)
        return "I could not open our direct messages to track that job; try again."
    # The same path as a card's Track button: the router, which explains every failure.
    ctx = Context(user_id=user, channel_id=dm, tz=tz)
    reply = services.router.handle_action(actions.TRACK, job_id, ctx)
    return reply.text.splitlines()[0] if reply and reply.text else f"Tracking `{job_id}`."
