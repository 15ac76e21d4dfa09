"""Socket Mode (``videojobs-bot socket``): the same Bolt app over a websocket, no public URL.

Uses slack_sdk's client on the ``websocket-client`` library: when the socket drops
without Slack's ``disconnect`` message (a load balancer, a network path), its close
callback reconnects at once, where slack_sdk's built-in client believed it was still
connected until its ping check noticed, seconds later. Needs the app-level token
(``xapp-…``, scope ``connections:write``). A Socket Mode bot is usually its one and
only process, so it also runs the tracking loop (what ``videojobs-bot worker`` runs
alone); further processes on the same database are safe.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
import threading
import time
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode.websocket_client import SocketModeHandler
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.websocket_client import SocketModeClient

from ..settings import Settings
from ..slack.app import TokenCheck, create_app, slack_refused
from ..slack.listeners.answer import AnswerHere
from ..tracking.process.worker import run_worker
from ..wiring.services import build_services

log = logging.getLogger(__name__)


class _PromptSocketModeClient(SocketModeClient):
    """Replacing a session (after Slack's ``disconnect``) used to close the old socket
    from another thread, which does not wake the thread waiting on it in ``select``: it
    stayed there and the new session never started. Here the old socket is only shut
    down; the waiting thread wakes at once, closes it itself and runs the new session."""

    def connect(self) -> None:
        old = getattr(getattr(self.current_session, "sock", None), "sock", None)
        if old is not None:
            self.current_session = None  # so that super() does not close it from here
            with contextlib.suppress(OSError):
                old.shutdown(socket.SHUT_RDWR)
        super().connect()


def socket_mode_handler(app: App, app_token: str, **client_options: Any) -> SocketModeHandler:
    """Bolt's websocket-client handler with :class:`_PromptSocketModeClient` under it."""
    handler = SocketModeHandler(app, app_token)
    handler.client.close()  # the handler's own client; never connected
    handler.client = _PromptSocketModeClient(
        app_token=app_token, logger=app.logger, web_client=app.client, **client_options
    )
    handler.client.socket_mode_request_listeners.append(handler.handle)  # type: ignore[arg-type]
    return handler


def _first_url(handler: SocketModeHandler, first_wait: float, max_wait: float) -> None:
    """The first connection's URL (``apps.connections.open``), asked again with backoff
    while Slack does not answer (5xx, 429, no connection), so a Slack outage at start-up
    is waited out; a refused app token raises :class:`SlackApiError` at once. Only the
    start: reconnecting later is the client's own business."""
    wait = first_wait
    while True:
        try:
            handler.client.wss_uri = handler.client.issue_new_wss_url()
            return
        except SlackApiError as e:
            if slack_refused(e):
                raise
            why = f"HTTP {e.response.status_code}"
        except OSError as e:
            why = type(e).__name__
        log.warning("Slack did not answer apps.connections.open (%s): Socket Mode connects "
                    "once it does; asking again in %g s", why, wait)
        time.sleep(wait)
        wait = min(wait * 2, max_wait)


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
    try:
        handler = socket_mode_handler(
            create_app(services, AnswerHere(services)), settings.slack_app_token.get_secret_value()
        )
        _first_url(handler, settings.slack_verify_seconds, settings.slack_verify_max_seconds)
        handler.start()  # type: ignore[no-untyped-call]  # slack_bolt leaves it unannotated
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
