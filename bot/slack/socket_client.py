"""A Socket Mode client (https://api.slack.com/apis/socket-mode) that lives through
Slack's refreshes, for as long as the process runs.

Slack refreshes every connection from time to time: it sends ``disconnect``
(``warning``, then ``refresh_requested``), expects a new connection, and keeps using the
old one until it closes it; a connection can also drop without a word. So here:

- one thread opens every connection, and only when the newest one is told to go or is
  lost: one ``apps.connections.open`` (a Tier 1 method) per connection, one ticket used;
- each connection has its own reader thread until it closes: a connection being
  replaced is still read, and its envelopes handled and acked on it; one Slack never
  closes is closed ``retire_after`` seconds after its successor opened;
- an envelope Slack delivers again (its ack was lost) is acked again, never handled twice;
- a connection that answers no ping for two ``ping_interval`` is dropped and replaced.

It is a :class:`BaseSocketModeClient` so that Bolt's Socket Mode glue can answer through
it. slack_sdk's own clients (built-in, websocket_client, aiohttp, websockets) all close
the old connection as soon as the new one is open; docs/slack-platform.md, "Socket Mode",
tells why this one replaces the websocket_client one the bot used before.
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web import WebClient
from websocket import ABNF, WebSocket, create_connection

from .app import slack_refused

#: Envelope ids remembered, with their acks, to recognise one Slack delivers again.
REMEMBERED_ENVELOPES = 2000
#: Seconds a closing handshake may take before the socket is simply closed.
CLOSE_TIMEOUT = 1.0


@dataclass(eq=False)
class _Connection:
    number: int
    ws: WebSocket
    #: ``time.monotonic()`` of the last frame received, of the last ping sent.
    heard: float
    pinged: float = 0.0
    #: When to close it if Slack has not (it has been replaced); when we started to.
    retire_at: float | None = None
    closing_since: float | None = None
    closed: threading.Event = field(default_factory=threading.Event)

    def send(self, text: str) -> bool:
        if self.closed.is_set():
            return False
        try:
            self.ws.send(text)
        except Exception:  # closed under us: the caller tries another connection
            return False
        return True

    def abort(self) -> None:
        """Wake its reader (a close from another thread would not) and end it."""
        self.ws.abort()  # type: ignore[no-untyped-call]  # websocket-client: unannotated


class SocketModeClient(BaseSocketModeClient):
    """``connect()`` opens the first connection and returns; from then on connections
    are replaced in the background until ``close()``. Envelopes go to
    ``socket_mode_request_listeners`` on up to ``concurrency`` threads."""

    def __init__(
        self,
        app_token: str,
        *,
        web_client: WebClient,
        logger: logging.Logger | None = None,
        concurrency: int = 10,
        ping_interval: float = 10.0,
        handshake_timeout: float = 10.0,
        retire_after: float = 30.0,
        retry_delays: Sequence[float] = (1.0, 2.0, 5.0, 10.0, 30.0),
    ) -> None:
        self.app_token = app_token
        self.web_client = web_client
        self.logger = logger or logging.getLogger(__name__)
        self.message_listeners = []
        self.socket_mode_request_listeners = []
        self.closed = False
        self.message_workers = ThreadPoolExecutor(concurrency,
                                                  thread_name_prefix="socket-mode-envelope")
        self.ping_interval = ping_interval
        self.handshake_timeout = handshake_timeout
        self.retire_after = retire_after
        self.retry_delays = tuple(retry_delays)
        self._changed = threading.Condition()
        self._current: _Connection | None = None
        self._live: list[_Connection] = []
        self._readers: list[threading.Thread] = []
        #: A new connection is wanted (the current one was told to go, or lost); not
        #: before ``_retry_at`` after ``_failures`` failed attempts.
        self._wanted = False
        self._failures = 0
        self._retry_at = 0.0
        self._numbers = itertools.count(1)
        #: envelope id -> the connection it came on, and the ack sent for it.
        self._origins: collections.OrderedDict[str, _Connection] = collections.OrderedDict()
        self._acks: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._connector = threading.Thread(target=self._connect_loop,
                                           name="socket-mode-connect", daemon=True)

    # -- the public side -----------------------------------------------------------------

    def connect(self) -> None:
        """Open the first connection. Slack refusing the app token raises
        :class:`SlackApiError`; anything else is retried in the background."""
        try:
            self._install(self._open())
        except SlackApiError as e:
            if slack_refused(e):
                raise  # the app token itself: nothing to wait for
            self._failed(e)  # Slack down or busy at start-up: waited out like a drop
        except Exception as e:
            self._failed(e)
        self._connector.start()

    def is_connected(self) -> bool:
        with self._changed:
            return self._current is not None and not self._current.closed.is_set()

    def close(self) -> None:
        """Close every connection (a closing handshake, then the socket) and stop."""
        with self._changed:
            self.closed = True
            live = list(self._live)
            self._changed.notify_all()
        for conn in live:
            _send_close(conn)
        deadline = time.monotonic() + CLOSE_TIMEOUT
        for conn in live:
            if not conn.closed.wait(max(0.0, deadline - time.monotonic())):
                conn.abort()
        for reader in [*self._readers, self._connector]:
            if reader.is_alive():
                reader.join(CLOSE_TIMEOUT)
        self.message_workers.shutdown(wait=False, cancel_futures=True)

    def send_message(self, message: str) -> None:
        self._send(message, None)

    def send_socket_mode_response(self, response: dict[str, Any] | SocketModeResponse) -> None:
        """An ack goes back on the connection its envelope came on while that is open,
        else on the newest; it is remembered in case Slack delivers the envelope again."""
        body = response.to_dict() if isinstance(response, SocketModeResponse) else response
        text = json.dumps(body)
        envelope_id = body.get("envelope_id")
        with self._changed:
            origin = self._origins.get(envelope_id) if envelope_id else None
            if envelope_id:
                _remember(self._acks, envelope_id, text)
        self._send(text, origin)

    # -- connections ---------------------------------------------------------------------

    def _open(self) -> _Connection:
        """One ``apps.connections.open``, one websocket: the new connection, unread."""
        url = self.web_client.apps_connections_open(app_token=self.app_token)["url"]
        ws = create_connection(url, timeout=self.handshake_timeout, enable_multithread=True)
        ws.settimeout(None)  # the reader blocks; abort() wakes it
        return _Connection(next(self._numbers), ws, heard=time.monotonic())

    def _install(self, conn: _Connection) -> None:
        """``conn`` becomes the newest connection; the one before it retires."""
        reader = threading.Thread(target=self._read, args=(conn,), daemon=True,
                                  name=f"socket-mode-read-{conn.number}")
        with self._changed:
            previous, self._current = self._current, conn
            if previous is not None and not previous.closed.is_set():
                previous.retire_at = time.monotonic() + self.retire_after
            self._live.append(conn)
            self._readers = [r for r in self._readers if r.is_alive()] + [reader]
            self._wanted, self._failures = False, 0
            self._changed.notify_all()
        self.logger.info("Socket Mode: connection #%d open", conn.number)
        reader.start()

    def _replace(self, conn: _Connection, why: str) -> None:
        """Ask for a new connection, if ``conn`` is the newest and none is on its way."""
        with self._changed:
            if self.closed or conn is not self._current or self._wanted:
                return
            self._wanted = True
            self._changed.notify_all()
        self.logger.info("Socket Mode: replacing connection #%d (%s)", conn.number, why)

    def _failed(self, error: Exception) -> None:
        delay = self.retry_delays[min(self._failures, len(self.retry_delays) - 1)]
        if isinstance(error, SlackApiError) and _rate_limited(error):
            delay = max(delay, float(error.response.headers.get("Retry-After", 60)))
        self.logger.warning("Socket Mode: could not connect (%s: %s); again in %.0f s",
                            type(error).__name__, error, delay)
        with self._changed:
            self._wanted = True
            self._failures += 1
            self._retry_at = time.monotonic() + delay

    def _connect_loop(self) -> None:
        """Opens the connections the others ask for, and keeps the open ones healthy."""
        while True:
            with self._changed:
                if self.closed:
                    return
                due = min([self._retry_at if self._wanted else float("inf"),
                           *(self._next_check(c) for c in self._live)])
                self._changed.wait(max(0.0, min(due - time.monotonic(), 60.0)))
                if self.closed:
                    return
                live = list(self._live)
                connect = self._wanted and time.monotonic() >= self._retry_at
            for conn in live:
                self._check(conn)
            if connect:
                try:
                    self._install(self._open())
                except Exception as e:
                    self._failed(e)

    def _next_check(self, conn: _Connection) -> float:
        if conn.closing_since is not None:
            return conn.closing_since + CLOSE_TIMEOUT
        ping = max(conn.heard, conn.pinged) + self.ping_interval
        return ping if conn.retire_at is None else min(ping, conn.retire_at)

    def _check(self, conn: _Connection) -> None:
        """Ping an idle connection; drop one that stopped answering; close one retired."""
        now = time.monotonic()
        if conn.closed.is_set():
            return
        if conn.closing_since is not None:
            if now - conn.closing_since >= CLOSE_TIMEOUT:
                conn.abort()
                conn.closing_since = now
        elif conn.retire_at is not None and now >= conn.retire_at:
            self.logger.info("Socket Mode: closing connection #%d (replaced %.0f s ago)",
                             conn.number, self.retire_after)
            conn.closing_since = now
            _send_close(conn)
        elif now - conn.heard >= 2 * self.ping_interval:
            self.logger.warning("Socket Mode: connection #%d answers no ping; dropping it",
                                conn.number)
            conn.closing_since = now
            conn.abort()
        elif now - max(conn.heard, conn.pinged) >= self.ping_interval:
            conn.pinged = now
            try:
                conn.ws.ping()
            except Exception:
                conn.closing_since = now
                conn.abort()

    # -- reading -------------------------------------------------------------------------

    def _read(self, conn: _Connection) -> None:
        """Until ``conn`` closes: its messages, in order."""
        why = "closed by Slack"
        try:
            while True:
                opcode, data = conn.ws.recv_data(control_frame=True)
                conn.heard = time.monotonic()
                if opcode == ABNF.OPCODE_CLOSE:
                    break
                if opcode == ABNF.OPCODE_TEXT:
                    self._on_message(conn, data.decode("utf-8"))
        except Exception as e:
            why = f"lost ({type(e).__name__})"
        finally:
            conn.ws.shutdown()  # type: ignore[no-untyped-call]  # unannotated, as abort()
            with self._changed:
                conn.closed.set()
                self._live.remove(conn)
                self._changed.notify_all()
            if conn.closing_since is not None or self.closed:
                why = "closed"
            self.logger.info("Socket Mode: connection #%d %s", conn.number, why)
            self._replace(conn, why)

    def _on_message(self, conn: _Connection, raw: str) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            self.logger.warning("Socket Mode: not a JSON object, ignored: %.100r", raw)
            return
        kind = message.get("type")
        if kind == "hello":
            return
        if kind == "disconnect":
            self._replace(conn, f"Slack asks: {message.get('reason')}")
            return
        envelope_id = message.get("envelope_id")
        if envelope_id:
            with self._changed:
                again = envelope_id in self._origins
                _remember(self._origins, envelope_id, conn)
                ack = self._acks.get(envelope_id)
            if again:
                self.logger.info("Socket Mode: envelope %s delivered again (retry %s); not "
                                 "handled twice", envelope_id, message.get("retry_attempt"))
                if ack is not None:
                    self._send(ack, conn)
                return
        self.message_workers.submit(self.run_message_listeners, message, raw)

    def _send(self, text: str, prefer: _Connection | None) -> None:
        with self._changed:
            newest_first = self._live[::-1]
        for conn in ([prefer] if prefer else []) + newest_first:
            if conn.send(text):
                return
        self.logger.warning("Socket Mode: no open connection to send on; dropped: %.100s",
                            text)


def _remember(memory: collections.OrderedDict[str, Any], key: str, value: Any) -> None:
    memory[key] = value
    memory.move_to_end(key)
    while len(memory) > REMEMBERED_ENVELOPES:
        memory.popitem(last=False)


def _rate_limited(error: SlackApiError) -> bool:
    return bool(error.response.get("error") == "ratelimited")


def _send_close(conn: _Connection) -> None:
    """Start the closing handshake; the reader ends when Slack answers it."""
    try:
        conn.ws.send_close()
    except Exception:
        conn.abort()
