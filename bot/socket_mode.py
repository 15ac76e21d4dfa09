"""Socket Mode (``videojobs-bot socket``): the same Bolt app over a websocket, no public URL.

Uses slack_sdk's built-in websocket client, so no extra dependency. Needs the app-level
token (``xapp-…``, scope ``connections:write``). A Socket Mode bot is usually its one and
only process, so it also runs the tracking loop (what ``videojobs-bot worker`` runs
alone); further processes on the same database are safe.
"""

from __future__ import annotations

import threading

from slack_bolt.adapter.socket_mode import SocketModeHandler

from .app import create_app
from .services import build_services
from .settings import Settings
from .tracking.worker import run_worker


def serve(settings: Settings) -> None:
    """Connect and handle requests until the process is stopped."""
    assert settings.slack_app_token is not None, "Settings.require('socket') checks it"
    services = build_services(settings)
    stop = threading.Event()
    loop = threading.Thread(target=run_worker, args=(services.tracking, stop), name="tracking")
    loop.start()
    try:
        SocketModeHandler(
            create_app(settings, services), settings.slack_app_token.get_secret_value()
        ).start()
    finally:
        stop.set()
        loop.join()
