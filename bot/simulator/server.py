"""The simulator's HTTP side: one route table, and every answer recorded and stamped
with an ``X-Request-Id`` (the reference's response header), errors included.

Standard library only: no library simulates this API, and a ThreadingHTTPServer is all
a loopback test, the demo or a benchmark needs.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
import uuid
from dataclasses import replace
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from . import assets, creation, operations
from .cover import check_cover, cover_png
from .faults import ERROR_BODIES
from .jobs import DEFAULT_HORIZON
from .params import InvalidParameter, parse_filters

if TYPE_CHECKING:
    from .service import Simulator

log = logging.getLogger(__name__)

LIST_PATH = re.compile(r"/v1/(?P<project>[^/]+)/digital-human-videos/?")
#: docs/metastudio-api.md: the per-type detail operations.
DETAIL_PATH = re.compile(
    r"/v1/(?P<project>[^/]+)/(?P<kind>2d|photo)-digital-human-videos/(?P<job>[^/]+)/?")
COVER_PATH = re.compile(r"/covers/(?P<asset>[0-9a-f]{32})\.png")
IAM_PATH = "/v3/auth/tokens"

Answer = tuple[int, Any, dict[str, str]]


#: Connections the kernel queues before they are accepted. socketserver's default of 5
#: made 20 concurrent clients on a busy machine wait out 1 s connect timeouts (SYNs past
#: the backlog are dropped and retried); a real server's backlog is hundreds (gunicorn
#: 2048, nginx 511).
BACKLOG = 1024


class _Server(ThreadingHTTPServer):
    request_queue_size = BACKLOG

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (its timeout under a latency fault) is no simulator
        # error: skip the traceback socketserver prints for it. Anything else is one.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class ServerHandle:
    """A running simulator server: ``url`` (no trailing slash), ``port``, ``stop()``."""

    def __init__(self, sim: Simulator, host: str, port: int) -> None:
        handler = type("Handler", (_Handler,), {"simulator": sim})
        self._server = _Server((host, port), handler)
        self._server.daemon_threads = True
        bound_host, self.port = self._server.server_address[:2]
        self.host = str(bound_host)  # typeshed allows bytes; an AF_INET server's is a str
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            # A short poll: stop() waits for it, and tests stop a server each.
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"metastudio-sim-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _Handler(BaseHTTPRequestHandler):
    simulator: Simulator
    protocol_version = "HTTP/1.1"  # keep-alive, like the real gateway
    # Headers and body go out in two writes; with Nagle on, a keep-alive client waits
    # for a delayed ACK (~40 ms) per answer: measured 22 req/s a connection, 880 without.
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header follows the simulated clock, so a client can detect skew.
        return format_datetime(self.simulator.now(), usegmt=True)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _serve(self) -> None:
        sim = self.simulator
        parts = urlsplit(self.path)
        query = parse_qsl(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        held = sim.faults.gate(f"{parts.path}?{urlencode(query)}")
        if sim.faults.latency or held:
            time.sleep(sim.faults.latency + held)
        try:
            status, payload, headers = self._route(self.command, parts.path, query, body)
        except Exception:
            # A simulator bug must reach the test as a 500, not as a dropped connection.
            log.exception("simulator failed on %s %s", self.command, self.path)
            status, payload, headers = 500, ERROR_BODIES[500], {}
        sim.record(self.command, parts.path, query, dict(self.headers.items()), status, body)
        self._send(status, payload, {"X-Request-Id": uuid.uuid4().hex, **headers})

    def _route(self, method: str, path: str, query: list[tuple[str, str]], body: bytes) -> Answer:
        if method == "POST" and path == IAM_PATH:
            return self._login(body)
        cover = COVER_PATH.fullmatch(path)
        if method == "GET" and cover:
            return self._cover(cover["asset"], dict(query))
        operation = operations.route(self.simulator, method, path, query, self.headers)
        if operation is not None:
            return operation
        asset = assets.route(self.simulator, method, path, query, self.headers, body)
        if asset is not None:
            return asset
        created = creation.route(self.simulator, method, path, query, self.headers, body)
        if created is not None:
            return created
        listing = LIST_PATH.fullmatch(path)
        if method == "GET" and listing:
            return self._list(path, unquote(listing["project"]), query)
        detail = DETAIL_PATH.fullmatch(path)
        if method == "GET" and detail:
            return self._detail(path, unquote(detail["project"]), detail["kind"] == "photo",
                                unquote(detail["job"]), query)
        return 404, ERROR_BODIES[404], {}

    def _detail(
        self, path: str, project: str, photo: bool, job_id: str, query: list[tuple[str, str]]
    ) -> Answer:
        sim = self.simulator
        refused = sim.admit("GET", path, query, self.headers, project)
        if refused:
            return refused
        # The SDK sends a bool as true/false (API notes, section 2).
        show_script = ("show_script", "true") in query
        body = sim.detail(job_id, photo, show_script=show_script)
        if body is None:
            return 404, ERROR_BODIES[404], {}
        return 200, body, {}

    def _list(self, path: str, project: str, query: list[tuple[str, str]]) -> Answer:
        sim = self.simulator
        # Message answers get()/items() case-insensitively, all the gatekeeper reads.
        refused = sim.admit("GET", path, query, self.headers, project)
        if refused:
            return refused
        try:
            filters = parse_filters(
                query,
                ignore_job_ids=sim.faults.ignore_job_ids,
                lookups_within_month=sim.faults.lookups_within_month,
            )
        except InvalidParameter as e:
            return 400, {**ERROR_BODIES[400], "error_msg": f"Invalid parameter: {e}"}, {}
        if sim.faults.ignore_offset_count is not None:
            filters = replace(filters, offset=0)
        if sim.faults.list_month_only:
            floor = sim.now() - DEFAULT_HORIZON
            if filters.create_since is None or filters.create_since < floor:
                filters = replace(filters, create_since=floor)
        return 200, sim.faults.drift(sim.list_page(filters)), {}

    def _login(self, body: bytes) -> Answer:
        try:
            request = json.loads(body)
        except ValueError:
            return 400, _iam_error(400, "Bad Request", "The request body is not JSON."), {}
        issued = self.simulator.gatekeeper.login(request)
        if issued is None:
            message = "The username or password is wrong."
            return 401, _iam_error(401, "Unauthorized", message), {}
        token, expires = issued
        sim = self.simulator
        answer = {
            "token": {
                # IAM's format: microseconds and a Z (e.g. 2024-07-05T10:15:00.000000Z).
                "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "issued_at": sim.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "methods": ["password"],
                "project": {"id": sim.project_id, "name": "cn-north-4"},
            }
        }
        return 201, answer, {"X-Subject-Token": token}

    def _cover(self, asset_id: str, query: dict[str, str]) -> Answer:
        sim = self.simulator
        if not sim.store.has_asset(asset_id):
            return 404, _obs_error("NoSuchKey", "The specified key does not exist."), _XML
        refusal = check_cover(asset_id, query, sim.now())
        if refusal:
            # Object storage answers a bad or expired signed URL with 403, not 404.
            return 403, _obs_error(*refusal), _XML
        return 200, cover_png(), {"Content-Type": "image/png"}

    def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        if isinstance(payload, bytes):
            data = payload
        elif isinstance(payload, str):
            data = payload.encode()
        else:
            data = json.dumps(payload).encode()
        self.send_response(status)
        headers.setdefault("Content-Type", "application/json;charset=UTF-8")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


_XML = {"Content-Type": "application/xml"}


def _iam_error(code: int, title: str, message: str) -> dict[str, Any]:
    """IAM's (Keystone's) error shape, unlike MetaStudio's."""
    return {"error": {"code": code, "title": title, "message": message}}


def _obs_error(code: str, message: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
