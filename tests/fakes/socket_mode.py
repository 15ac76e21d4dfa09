"""A local Socket Mode endpoint speaking Slack's protocol
(https://api.slack.com/apis/socket-mode): ``apps.connections.open`` on a fake Web API
returns this server's ``ws://`` URL with a one-time ticket (a ticket used once, or never
issued, is refused); each connection gets ``hello`` first; the test pushes envelopes
(``slash_commands``, and ``events_api`` such as a workflow step's ``function_executed``)
on the newest connection or a given one, reads the acks by
``envelope_id`` with how long each took (Slack wants one within 3 s), and can push an
envelope again as Slack redelivers one. It asks the client to reconnect (``disconnect``,
``refresh_requested`` or ``warning``) and, as Slack does, closes that connection itself
``close_after_disconnect`` seconds later (None: never); it drops a socket without a word
(an abrupt close, as a load balancer or a network path does); it can be slow to accept
(``accept_delay``: seconds before the websocket handshake is answered); and ``via_port``
sends connections through a proxy (tests/fakes/blackhole.py) that can go silent.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from tests.fakes.slack import Call, FakeSlack

#: Slack's deadline for an envelope's ack (https://api.slack.com/apis/socket-mode).
ACK_DEADLINE = 3.0


@dataclass
class Connection:
    ws: ServerConnection
    ticket: str
    opened: float
    acks: dict[str, dict[str, Any]] = field(default_factory=dict)
    closed: threading.Event = field(default_factory=threading.Event)
    #: envelope id -> ``time.monotonic()`` when it was pushed here, and when its ack came.
    pushed: dict[str, float] = field(default_factory=dict)
    acked: dict[str, float] = field(default_factory=dict)


class FakeSocketMode:
    """Start with ``FakeSocketMode(app_token).start()``; pair with :class:`SocketModeSlack`."""

    def __init__(self, app_token: str, *, accept_delay: float = 0.0,
                 close_after_disconnect: float | None = None) -> None:
        self.app_token = app_token
        #: Seconds each websocket handshake waits before it is answered (a slow edge).
        self.accept_delay = accept_delay
        #: Seconds after a ``disconnect`` message before this server closes that
        #: connection, as Slack does; None leaves it to the client.
        self.close_after_disconnect = close_after_disconnect
        #: URLs issued while this is set point at this port instead: a proxy in front.
        self.via_port: int | None = None
        self.connections: list[Connection] = []
        self.tickets: list[str] = []
        #: Tickets a connection was opened with (each is good once).
        self.used_tickets: set[str] = set()
        #: Handshakes refused: a ticket used before, or never issued.
        self.refused: list[str] = []
        self._envelopes: dict[str, dict[str, Any]] = {}
        self._changed = threading.Condition()
        self._timers: list[threading.Timer] = []
        self._server: Server | None = None

    def start(self) -> FakeSocketMode:
        self._server = serve(self._handle, "127.0.0.1", 0, process_request=self._accept,
                             close_timeout=1)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._server is not None:
            self._server.shutdown()
        for conn in self.connections:
            with contextlib.suppress(Exception):
                conn.ws.socket.close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.socket.getsockname()[1])

    def issue_url(self) -> str:
        """What ``apps.connections.open`` answers: a fresh ticket each time."""
        ticket = uuid.uuid4().hex
        with self._changed:
            self.tickets.append(ticket)
        return f"ws://127.0.0.1:{self.via_port or self.port}/link/?ticket={ticket}&app_id=A1"

    # -- the protocol --------------------------------------------------------------------

    def _accept(self, ws: ServerConnection, request: Request) -> Response | None:
        if self.accept_delay:
            time.sleep(self.accept_delay)
        return None

    def _handle(self, ws: ServerConnection) -> None:
        ticket = (ws.request.path.split("ticket=", 1)[1].split("&")[0]
                  if ws.request and "ticket=" in ws.request.path else "")
        with self._changed:
            good = ticket in self.tickets and ticket not in self.used_tickets
            (self.used_tickets.add if good else self.refused.append)(ticket)
        if not good:
            ws.close(4001, "invalid ticket")
            return
        conn = Connection(ws, ticket, time.monotonic())
        ws.send(json.dumps({
            "type": "hello", "num_connections": 1,
            "debug_info": {"host": "fake-socket-mode", "approximate_connection_time": 18060},
            "connection_info": {"app_id": "A1"},
        }))
        with self._changed:
            self.connections.append(conn)
            self._changed.notify_all()
        try:
            for message in ws:
                data = json.loads(message)
                if "envelope_id" in data:
                    with self._changed:
                        conn.acks.setdefault(data["envelope_id"], data)
                        conn.acked.setdefault(data["envelope_id"], time.monotonic())
                        self._changed.notify_all()
        except Exception:
            pass
        finally:
            conn.closed.set()
            with self._changed:
                self._changed.notify_all()

    def wait_for_connections(self, count: int, timeout: float = 10) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.connections) >= count, timeout)

    def open_connections(self) -> list[Connection]:
        """The connections neither side has closed yet."""
        with self._changed:
            return [c for c in self.connections if not c.closed.is_set()]

    def wait_for_open_connections(self, count: int, timeout: float = 10) -> bool:
        """Until exactly ``count`` connections are open."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.open_connections()) == count,
                                          timeout)

    def slash_command(self, text: str, *, response_url: str, user_id: str = "U1",
                      team_id: str = "T1", on: Connection | None = None) -> str:
        """Push ``/videojobs <text>`` on ``on`` (the newest connection by default); the
        envelope id."""
        envelope_id = uuid.uuid4().hex
        self._envelopes[envelope_id] = {
            "envelope_id": envelope_id, "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": {
                "token": "legacy", "team_id": team_id, "team_domain": "acme",
                "channel_id": "C1", "channel_name": "video-ops", "user_id": user_id,
                "user_name": "ana", "command": "/videojobs", "text": text,
                "api_app_id": "A1", "is_enterprise_install": "false",
                "response_url": response_url, "trigger_id": "1.2.3",
            },
        }
        self._push(self._envelopes[envelope_id], on)
        return envelope_id

    def events_api(self, body: dict[str, Any], *, on: Connection | None = None) -> str:
        """Push an Events API body (``FakeSlack.function_executed(…)[0]``); the envelope
        id."""
        envelope_id = uuid.uuid4().hex
        self._envelopes[envelope_id] = {
            "envelope_id": envelope_id, "type": "events_api",
            "accepts_response_payload": False, "payload": body,
        }
        self._push(self._envelopes[envelope_id], on)
        return envelope_id

    def redeliver(self, envelope_id: str, on: Connection | None = None) -> None:
        """Push an envelope again, as Slack does when it believes the ack was lost."""
        envelope = self._envelopes[envelope_id]
        envelope["retry_attempt"] = envelope.get("retry_attempt", 0) + 1
        envelope["retry_reason"] = "timeout"
        self._push(envelope, on)

    def _push(self, envelope: dict[str, Any], on: Connection | None) -> None:
        conn = on or self.connections[-1]
        with self._changed:
            conn.pushed[envelope["envelope_id"]] = time.monotonic()
        with contextlib.suppress(ConnectionClosed):  # lost, as Slack's would be: never acked
            conn.ws.send(json.dumps(envelope))

    def wait_for_ack(self, envelope_id: str, timeout: float = 10) -> dict[str, Any] | None:
        def acked() -> dict[str, Any] | None:
            return next((c.acks[envelope_id] for c in self.connections
                         if envelope_id in c.acks), None)

        with self._changed:
            self._changed.wait_for(lambda: acked() is not None, timeout)
            return acked()

    def ack_seconds(self, envelope_id: str) -> float | None:
        """Seconds from the envelope's first push to its first ack (on any connection)."""
        with self._changed:
            pushed = [c.pushed[envelope_id] for c in self.connections
                      if envelope_id in c.pushed]
            acked = [c.acked[envelope_id] for c in self.connections
                     if envelope_id in c.acked]
        return min(acked) - min(pushed) if pushed and acked else None

    def disconnect(self, reason: str = "refresh_requested",
                   on: Connection | None = None) -> Connection:
        """Slack's notice that it will close a connection (the newest by default): the
        client should open another. The connection it was sent on."""
        conn = on or self.connections[-1]
        with contextlib.suppress(ConnectionClosed):  # the client closed it already
            conn.ws.send(json.dumps({
                "type": "disconnect", "reason": reason,
                "debug_info": {"host": "fake-socket-mode"},
            }))
        if self.close_after_disconnect is not None:
            timer = threading.Timer(self.close_after_disconnect, self.close, (conn,))
            timer.daemon = True
            self._timers.append(timer)
            timer.start()
        return conn

    def close(self, conn: Connection) -> None:
        """Close ``conn`` the way Slack ends a connection: a close frame, then the socket."""
        with contextlib.suppress(Exception):
            conn.ws.close(1001, "refresh")

    def drop(self, on: Connection | None = None) -> Connection:
        """Close a connection's TCP socket (the newest by default) with no close frame, no
        goodbye."""
        conn = on or self.connections[-1]
        sock = conn.ws.socket
        with contextlib.suppress(OSError):
            # A reset rather than a goodbye when the socket is closed; closed by the
            # connection's own thread: closed from here, its poll would miss the news.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
        return conn


class SocketModeSlack(FakeSlack):
    """The fake Web API, plus ``apps.connections.open`` for the app-level token (each call
    recorded in ``calls`` like any other)."""

    def __init__(self, socket_mode: FakeSocketMode, **kw: Any) -> None:
        super().__init__(**kw)
        self.socket_mode = socket_mode

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        if req.path.split("?")[0] != "/api/apps.connections.open" or self.outage is not None:
            return super()._handle(req)  # an outage takes apps.connections.open down too
        length = int(req.headers.get("Content-Length") or 0)
        if length:
            req.rfile.read(length)
        with self._lock:
            self.calls.append(Call("apps.connections.open", {}, dict(req.headers.items())))
        if req.headers.get("Authorization") != f"Bearer {self.socket_mode.app_token}":
            body = {"ok": False, "error": "invalid_auth"}
        else:
            body = {"ok": True, "url": self.socket_mode.issue_url()}
        self._send(req, 200, body)
        return None
