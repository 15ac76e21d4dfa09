"""``wait_until_up``: a server that is still booting may refuse, or accept and not answer
in time (``ReadTimeout``); both mean "try again", not a failed run."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.fixtures.processes import wait_until_up


@pytest.fixture
def idle_process() -> Iterator[subprocess.Popen]:
    """Stands for the server process: alive for as long as the test needs."""
    process = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    yield process
    process.kill()
    process.communicate()


@contextmanager
def socket_bound_but_not_listening() -> Iterator[int]:
    """A port that refuses connections (bound, so nothing else takes it meanwhile)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_a_read_timeout_while_booting_is_retried(idle_process: subprocess.Popen) -> None:
    second_arrived = threading.Event()
    calls: list[int] = []

    class Booting(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            calls.append(1)
            if len(calls) == 1:
                # Accept but do not answer until the client has given up and asked again:
                # the first request can only end in the client's ReadTimeout.
                second_arrived.wait(timeout=10)
                return
            second_arrived.set()
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Booting)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        wait_until_up(f"http://127.0.0.1:{server.server_address[1]}/healthz", idle_process,
                      attempt_timeout=0.5)
    finally:
        second_arrived.set()
        server.shutdown()
        server.server_close()
    assert len(calls) == 2


def test_a_refused_connection_is_retried_until_the_deadline(
    idle_process: subprocess.Popen,
) -> None:
    with socket_bound_but_not_listening() as port, pytest.raises(
        AssertionError, match="did not come up"
    ):
        wait_until_up(f"http://127.0.0.1:{port}/healthz", idle_process, timeout=0.5)


def test_an_exited_server_fails_at_once() -> None:
    process = subprocess.Popen([sys.executable, "-c", "print('boom')"], stdout=subprocess.PIPE,
                               text=True)
    process.wait()
    with pytest.raises(AssertionError, match="the server exited: boom"):
        wait_until_up("http://127.0.0.1:9/healthz", process)
