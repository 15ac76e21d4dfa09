"""Socket Mode (``videojobs-bot socket``): the same Bolt app over a websocket, no public URL.

Uses slack_sdk's built-in websocket client, so no extra dependency. Needs the app-level
token (``xapp-…``, scope ``connections:write``). A Socket Mode bot is usually its one and
only process, so it also runs the tracking loop (what ``videojobs-bot worker`` runs
alone); further processes on the same database are safe.
"""

from __future__ import annotations

import signal
import sys
import threading

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.errors import SlackApiError

from .app import create_app
from .services import build_services
from .settings import Settings
from .tracking.worker import run_worker


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
    try:
        SocketModeHandler(
            create_app(settings, services), settings.slack_app_token.get_secret_value()
        ).start()  # type: ignore[no-untyped-call]  # slack_bolt leaves it unannotated
    except SlackApiError as e:
        error = e.response.get("error") if e.response else None
        print(
            f"videojobs-bot: Slack refused the Socket Mode connection ({error}): check "
            "SLACK_APP_TOKEN (an app-level token with connections:write, Socket Mode on)",
            file=sys.stderr,
        )
        return 1
    finally:
        stop.set()
        loop.join()
    return 0
