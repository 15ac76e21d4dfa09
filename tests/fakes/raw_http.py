"""A loopback HTTP server that misbehaves on purpose, byte by byte: answers that drip,
stop short, reset the connection or run to megabytes (what a broken proxy in front of
MetaStudio does). Each test sets ``behaviour``: a function of the accepted socket."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

Behaviour = Callable[[socket.socket], None]


class RawHttpServer:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        #: Request lines received ("GET /path?query HTTP/1.1").
        self.requests: list[str] = []
        self.behaviour: Behaviour = ok({"count": 0, "jobs": []})
        self._closed = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        head = b""
        with conn:
            while b"\r\n\r\n" not in head:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            self.requests.append(head.split(b"\r\n", 1)[0].decode())
            with contextlib.suppress(OSError):
                self.behaviour(conn)

    def close(self) -> None:
        self._closed = True
        # shutdown wakes the accepting thread; close() alone leaves the port listening.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()


def _head(status: int = 200, length: int | None = None, **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status} X", "Content-Type: application/json",
             "X-Request-Id: req-raw-1", "Connection: close"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def ok(body: Any, status: int = 200) -> Behaviour:
    import json

    raw = body if isinstance(body, bytes) else json.dumps(body).encode()

    def behave(conn: socket.socket) -> None:
        conn.sendall(_head(status, len(raw)) + raw)

    return behave


def drip(body: bytes, every: float, *, declare: bool = True) -> Behaviour:
    """Headers at once, then one byte of the body every ``every`` seconds (without
    ``declare``, no Content-Length: the body ends when the connection does)."""
    def behave(conn: socket.socket) -> None:
        conn.sendall(_head(200, len(body) if declare else None))
        for byte in body:
            conn.sendall(bytes([byte]))
            time.sleep(every)

    return behave


def stall(seconds: float) -> Behaviour:
    """Headers and the start of a body, then silence for ``seconds``."""
    def behave(conn: socket.socket) -> None:
        conn.sendall(_head(200, 100) + b'{"count": 0')
        time.sleep(seconds)

    return behave


def short(body: bytes, declared: int) -> Behaviour:
    """Declares ``declared`` bytes, sends ``body`` (fewer), closes cleanly."""
    def behave(conn: socket.socket) -> None:
        conn.sendall(_head(200, declared) + body)

    return behave


def reset(after: bytes = b"") -> Behaviour:
    """Sends ``after`` (maybe nothing), then resets the connection (RST, not FIN)."""
    def behave(conn: socket.socket) -> None:
        if after:
            conn.sendall(after)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    return behave


def huge(declared: int | None, send: int) -> Behaviour:
    """A body of ``send`` bytes of a JSON list; ``declared`` in Content-Length, or none."""
    def behave(conn: socket.socket) -> None:
        conn.sendall(_head(200, declared))
        chunk = b'{"job_id": "x"},' * 4096
        sent = 0
        conn.sendall(b'{"count": 1, "jobs": [')
        while sent < send:
            conn.sendall(chunk)
            sent += len(chunk)

    return behave


def hold(release: threading.Event, then: Behaviour) -> Behaviour:
    """Waits for the test to set ``release``, then behaves as ``then``."""
    def behave(conn: socket.socket) -> None:
        release.wait(10)
        then(conn)

    return behave
