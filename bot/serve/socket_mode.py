"""Socket Mode (``videojobs-bot socket``): the same Bolt app over a websocket, no public URL.

Needs the app-level token (``xapp-…``, scope ``connections:write``). The connections are
:mod:`bot.slack.socket_client`'s: one per refresh Slack asks for, the old one handled
until it closes, a dropped one replaced at once. A Socket Mode bot is usually its one
and only process, so it also runs the tracking loop (what ``videojobs-bot worker`` runs
alone); further processes on the same database are safe. Envelopes pass the same checks
as HTTP's front first (:func:`screened`): a malformed payload or a retried event is
acked and dropped.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
from slack_bolt.util.utils import get_boot_message
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from ..settings import Settings
from ..slack.app import TokenCheck, create_app
from ..slack.listeners.answer import AnswerHere
from ..slack.request_front import already_let_through, event_id, shape_problem
from ..slack.socket_client import SocketModeClient
from ..tracking.process.worker import run_worker
from ..wiring.services import build_services
from ..wiring.tracking import first_time_events

log = logging.getLogger(__name__)

#: Envelopes that carry a payload for Bolt (the others are hello, disconnect…).
_PAYLOADS = ("events_api", "interactive", "slash_commands")


def socket_mode_client(app: App, app_token: str, *,
                       first_time: Callable[[str], bool] | None = None,
                       **options: Any) -> SocketModeClient:
    """A client that hands each envelope to ``app`` and acks with Bolt's answer (what
    Bolt's own ``SocketModeHandler.handle`` does), behind the same checks as HTTP's
    front (:func:`screened`); ``options`` go to the client."""

    def handle(client: BaseSocketModeClient, request: SocketModeRequest) -> None:
        send_response(client, request, run_bolt_app(app, request), time.time())

    # Ours: slack_sdk's clients drop the old connection on a refresh (docs/slack-platform.md)
    client = SocketModeClient(app_token, web_client=app.client, logger=app.logger, **options)
    client.socket_mode_request_listeners.append(screened(handle, first_time))
    return client


def screened(
    handle: Callable[[BaseSocketModeClient, SocketModeRequest], None],
    first_time: Callable[[str], bool] | None,
) -> Callable[[BaseSocketModeClient, SocketModeRequest], None]:
    """``handle`` (Bolt's), except for an envelope whose payload has the wrong shape
    (:func:`bot.slack.request_front.shape_problem`: Bolt would fail on it and never ack,
    so Slack would send it again) or is an event Slack retries (``retry_attempt``, the
    same ``event_id``) that was already let through: those are acked and dropped, the
    reason logged without the payload."""

    def listener(client: BaseSocketModeClient, req: SocketModeRequest) -> None:
        skip = _why_skip(req, first_time) if req.type in _PAYLOADS else None
        if skip is not None:
            log.info("acking a Socket Mode %s envelope without handling it: %s", req.type, skip)
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        handle(client, req)

    return listener


def _why_skip(req: SocketModeRequest, first_time: Callable[[str], bool] | None) -> str | None:
    payload = req.payload
    if not isinstance(payload, dict):
        return "payload of the wrong shape: not an object"
    problem = shape_problem(payload)
    if problem is not None:
        return f"payload of the wrong shape: {problem}"
    event = event_id(payload)
    if event is not None and already_let_through(first_time, event):
        return f"event {event} already let through (Slack's retry {req.retry_attempt})"
    return None


def serve(settings: Settings) -> int:
    """Connect and handle requests until the process is stopped; the exit status."""
    assert settings.slack_app_token is not None, "Settings.require('socket') checks it"
    services = build_services(settings)
    stop = threading.Event()
    loop = threading.Thread(target=run_worker, args=(services.tracking, stop), name="tracking")
    loop.start()
    # SIGTERM (a platform stopping the process) exits through ``finally``: the tracking
    # loop finishes its cycle, so nothing is left half-sent.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    TokenCheck(services.slack, first_wait=settings.slack_verify_seconds,
               max_wait=settings.slack_verify_max_seconds).start()
    app = create_app(services, AnswerHere(services))
    client = socket_mode_client(app, settings.slack_app_token.get_secret_value(),
                                first_time=first_time_events(services.tracking.store))
    try:
        client.connect()
        # What Bolt's own handler says once connected: on stdout unless logs show it.
        if app.logger.level > logging.INFO:
            print(get_boot_message())
        else:
            app.logger.info(get_boot_message())
        threading.Event().wait()
    except SlackApiError as e:
        error = e.response.get("error") if e.response else None
        print(
            f"videojobs-bot: Slack refused the Socket Mode connection ({error}): check "
            "SLACK_APP_TOKEN (an app-level token with connections:write, Socket Mode on)",
            file=sys.stderr,
        )
        return 1
    finally:
        client.close()
        stop.set()
        loop.join()
    return 0
