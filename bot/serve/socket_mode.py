"""Socket Mode (``videojobs-bot socket``): the same Bolt app over a websocket, no public URL.

Uses slack_sdk's client on the ``websocket-client`` library: when the socket drops
without Slack's ``disconnect`` message (a load balancer, a network path), its close
callback reconnects at once, where slack_sdk's built-in client believed it was still
connected until its ping check noticed, seconds later. Needs the app-level token
(``xapp-…``, scope ``connections:write``). A Socket Mode bot is usually its one and
only process, so it also runs the tracking loop (what ``videojobs-bot worker`` runs
alone); further processes on the same database are safe. Envelopes pass the same checks
as HTTP's front first (:func:`screened`): a malformed payload or a retried event is acked
and dropped.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode.websocket_client import SocketModeHandler
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.socket_mode.websocket_client import SocketModeClient

from ..settings import Settings
from ..slack.app import create_app
from ..slack.listeners.answer import AnswerHere
from ..slack.request_front import already_let_through, event_id, shape_problem
from ..tracking.process.worker import run_worker
from ..wiring.services import build_services
from ..wiring.tracking import first_time_events

log = logging.getLogger(__name__)

#: Envelopes that carry a payload for Bolt (the others are hello, disconnect…).
_PAYLOADS = ("events_api", "interactive", "slash_commands")


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


def socket_mode_handler(app: App, app_token: str, *,
                        first_time: Callable[[str], bool] | None = None,
                        **client_options: Any) -> SocketModeHandler:
    """Bolt's websocket-client handler with :class:`_PromptSocketModeClient` under it,
    behind the same checks as HTTP's front (:func:`screened`)."""
    handler = SocketModeHandler(app, app_token)
    handler.client.close()  # the handler's own client; never connected
    handler.client = _PromptSocketModeClient(
        app_token=app_token, logger=app.logger, web_client=app.client, **client_options
    )
    handler.client.socket_mode_request_listeners.append(
        screened(handler.handle, first_time))  # type: ignore[arg-type]
    return handler


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
    try:
        socket_mode_handler(
            create_app(services, AnswerHere(services)), settings.slack_app_token.get_secret_value(),
            first_time=first_time_events(services.tracking.store),
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
