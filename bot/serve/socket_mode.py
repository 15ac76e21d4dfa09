"""Socket Mode (``videojobs-bot socket``): the same Bolt app over a websocket, no public URL.

Needs the app-level token (``xapp-…``, scope ``connections:write``). The connections are
:mod:`bot.slack.socket_client`'s: one per refresh Slack asks for, the old one handled
until it closes, a dropped one replaced at once. A Socket Mode bot is usually its one
and only process, so it also runs the tracking loop (what ``videojobs-bot worker`` runs
alone); further processes on the same database are safe.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
from slack_bolt.util.utils import get_boot_message
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from ..settings import Settings
from ..slack.app import create_app
from ..slack.listeners.answer import AnswerHere
from ..slack.socket_client import SocketModeClient
from ..tracking.process.worker import run_worker
from ..wiring.services import build_services


def socket_mode_client(app: App, app_token: str, **options: Any) -> SocketModeClient:
    """A client that hands each envelope to ``app`` and acks with Bolt's answer (what
    Bolt's own ``SocketModeHandler.handle`` does); ``options`` go to the client."""

    def handle(client: BaseSocketModeClient, request: SocketModeRequest) -> None:
        send_response(client, request, run_bolt_app(app, request), time.time())

    # Ours: slack_sdk's clients drop the old connection on a refresh (docs/slack-platform.md)
    client = SocketModeClient(app_token, web_client=app.client, logger=app.logger, **options)
    client.socket_mode_request_listeners.append(handle)
    return client


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
    app = create_app(services, AnswerHere(services))
    client = socket_mode_client(app, settings.slack_app_token.get_secret_value())
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
