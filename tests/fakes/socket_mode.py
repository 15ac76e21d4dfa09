"""A local Socket Mode endpoint speaking Slack's protocol
(https://api.slack.com/apis/socket-mode): ``apps.connections.open`` on a fake Web API
returns this server's ``ws://`` URL with a one-time ticket; each connection gets
``hello``; the test pushes envelopes (``slash_commands``) and reads the acks by
``envelope_id``; it can ask the client to reconnect (``disconnect``) or drop the socket
without a word (an abrupt close, as a load balancer or a network path does).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from websockets.sync.server import Server, ServerConnection, serve

from tests.fakes.slack import FakeSlack


@dataclass
class Connection:
    ws: ServerConnection
    ticket: str
    opened: float
    acks: dict[str, dict[str, Any]] = field(default_factory=dict)
    closed: threading.Event = field(default_factory=threading.Event)


class FakeSocketMode:
    """Start with ``FakeSocketMode(app_token).start()``; pair with :class:`SocketModeSlack`."""

    def __init__(self, app_token: str) -> None:
        self.app_token = app_token
        self.connections: list[Connection] = []
        self.tickets: list[str] = []
        self._changed = threading.Condition()
        self._server: Server | None = None

    def start(self) -> FakeSocketMode:
        self._server = serve(self._handle, "127.0.0.1", 0)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
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
        self.tickets.append(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id=A1"

    # -- the protocol --------------------------------------------------------------------

    def _handle(self, ws: ServerConnection) -> None:
        ticket = (ws.request.path.split("ticket=", 1)[1].split("&")[0]
                  if ws.request and "ticket=" in ws.request.path else "")
        if ticket not in self.tickets:
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
                        conn.acks[data["envelope_id"]] = data
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

    def slash_command(self, text: str, *, response_url: str, user_id: str = "U1",
                      team_id: str = "T1") -> str:
        """Push ``/videojobs <text>`` on the newest connection; the envelope id."""
        envelope_id = uuid.uuid4().hex
        self.connections[-1].ws.send(json.dumps({
            "envelope_id": envelope_id, "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": {
                "token": "legacy", "team_id": team_id, "team_domain": "acme",
                "channel_id": "C1", "channel_name": "video-ops", "user_id": user_id,
                "user_name": "ana", "command": "/videojobs", "text": text,
                "api_app_id": "A1", "is_enterprise_install": "false",
                "response_url": response_url, "trigger_id": "1.2.3",
            },
        }))
        return envelope_id

    def wait_for_ack(self, envelope_id: str, timeout: float = 10) -> dict[str, Any] | None:
        def acked() -> dict[str, Any] | None:
            return next((c.acks[envelope_id] for c in self.connections
                         if envelope_id in c.acks), None)

        with self._changed:
            self._changed.wait_for(lambda: acked() is not None, timeout)
            return acked()

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Slack's warning before it closes a connection: the client should reconnect."""
        self.connections[-1].ws.send(json.dumps({
            "type": "disconnect", "reason": reason,
            "debug_info": {"host": "fake-socket-mode"},
        }))

    def drop(self) -> None:
        """Close the newest connection's TCP socket with no close frame, no goodbye."""
        sock = self.connections[-1].ws.socket
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


class SocketModeSlack(FakeSlack):
    """The fake Web API, plus ``apps.connections.open`` for the app-level token."""

    def __init__(self, socket_mode: FakeSocketMode, **kw: Any) -> None:
        super().__init__(**kw)
        self.socket_mode = socket_mode

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        if req.path.split("?")[0] != "/api/apps.connections.open" or self.outage is not None:
            return super()._handle(req)  # an outage takes apps.connections.open down too
        length = int(req.headers.get("Content-Length") or 0)
        if length:
            req.rfile.read(length)
        if req.headers.get("Authorization") != f"Bearer {self.socket_mode.app_token}":
            body = {"ok": False, "error": "invalid_auth"}
        else:
            body = {"ok": True, "url": self.socket_mode.issue_url()}
        self._send(req, 200, body)
        return None
