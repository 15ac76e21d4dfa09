"""The simulator's HTTP side: routing, parameter validation and error answers.

Standard library only: no library simulates this API, and a ThreadingHTTPServer is
all a loopback test, the demo or a benchmark needs.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .cover import cover_png
from .faults import ERROR_BODIES
from .jobs import Filters

if TYPE_CHECKING:
    from . import Simulator

LIST_PATH = re.compile(r"^/v1/(?P<project>[^/]+)/digital-human-videos/?$")
COVER_PATH = re.compile(r"^/covers/[0-9a-f]{32}\.png$")
STATES = {"WAITING", "PROCESSING", "SUCCEED", "FAILED", "CANCELED", "BLOCK"}
JOB_TYPES = {"2D_DIGITAL_HUMAN_VIDEO", "PHOTO_DIGITAL_HUMAN_VIDEO", "DIGITAL_HUMAN_PHOTO_VIDEO"}
SORT_KEYS = {"create_time", "update_time", "asset_order"}
TIME_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


class InvalidParameter(Exception):
    pass


def parse_filters(pairs: list[tuple[str, str]], ignore_job_ids: bool) -> Filters:
    """Validate the query as MetaStudio does; unknown parameters are ignored."""
    single: dict[str, str] = {}
    job_ids: list[str] = []
    fuzzy: list[str] = []
    for name, value in pairs:
        if name == "job_ids":
            # API-NOTES.md: the SDK repeats the pair; a comma list is accepted too.
            job_ids.extend(v for v in value.split(",") if v)
        elif name == "fuzzy_query_field":
            fuzzy.extend(v for v in value.split(",") if v)
        else:
            single[name] = value

    def integer(name: str, default: int, low: int, high: int) -> int:
        raw = single.get(name)
        if raw is None:
            return default
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise InvalidParameter(f"{name} must be an integer from {low} to {high}")
        return int(raw)

    def moment(name: str) -> datetime | None:
        raw = single.get(name)
        if raw is None:
            return None
        if not TIME_FORMAT.match(raw):
            raise InvalidParameter(f"{name} must look like 2024-01-31T08:00:00Z")
        return datetime.strptime(raw, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)

    states = None
    if "state" in single:
        states = frozenset(s for s in single["state"].split(",") if s)
        if not states or not states <= STATES:
            raise InvalidParameter("state must be a comma list of " + ",".join(sorted(STATES)))
    job_type = single.get("job_type")
    if job_type is not None and job_type not in JOB_TYPES:
        raise InvalidParameter("job_type is not a known task type")
    sort_key = single.get("sort_key", "create_time")
    if sort_key not in SORT_KEYS:
        raise InvalidParameter("sort_key must be one of " + ", ".join(sorted(SORT_KEYS)))
    sort_dir = single.get("sort_dir", "asc")
    if sort_dir not in ("asc", "desc"):
        raise InvalidParameter("sort_dir must be asc or desc")
    return Filters(
        states=states,
        job_type=job_type,
        asset_name=single.get("asset_name"),
        fuzzy_asset_name="asset_name" in fuzzy,
        script_id=single.get("script_id"),
        job_id=single.get("job_id"),
        job_ids=tuple(job_ids) if job_ids and not ignore_job_ids else None,
        create_since=moment("create_since"),
        create_until=moment("create_until"),
        sort_key=sort_key,
        sort_dir=sort_dir,
        offset=integer("offset", 0, 0, 10**9),
        limit=integer("limit", 10, 1, 100),
    )


def make_server(sim: Simulator, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(_Handler):
        simulator = sim

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


class _Handler(BaseHTTPRequestHandler):
    simulator: Simulator
    protocol_version = "HTTP/1.1"  # keep-alive, like the real gateway

    def log_message(self, *args: Any) -> None:
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header follows the simulator's clock, so clients can detect skew.
        return format_datetime(self.simulator.now(), usegmt=True)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        sim = self.simulator
        parts = urlsplit(self.path)
        query = parse_qsl(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if sim.faults.latency:
            time.sleep(sim.faults.latency)
        request_id = uuid.uuid4().hex
        status, payload, headers = self._route(method, parts.path, query, body)
        sim._record(method, parts.path, query, dict(self.headers.items()), status)
        self._send(status, payload, {"X-Request-Id": request_id, **headers})

    def _route(self, method: str, path: str, query: list[tuple[str, str]], body: bytes):
        sim = self.simulator
        if method == "POST" and path == "/v3/auth/tokens":
            return self._login(body)
        if method == "GET" and COVER_PATH.match(path):
            return self._cover(query)
        match = LIST_PATH.match(path)
        if method != "GET" or match is None:
            return 404, ERROR_BODIES[404], {}
        refusal = sim.gatekeeper.check(method, path, query, self.headers)
        if refusal:
            return refusal[0], refusal[1], {}
        if unquote(match["project"]) != sim.project_id:
            return 404, ERROR_BODIES[404], {}
        failure = sim.faults.take()
        if failure:
            return failure.status, failure.body, failure.headers
        try:
            filters = parse_filters(query, sim.faults.ignore_job_ids)
        except InvalidParameter as e:
            return 400, {"error_code": "MSS.00000003", "error_msg": f"Invalid parameter: {e}"}, {}
        return 200, sim._list(filters), {}

    def _login(self, body: bytes):
        try:
            request = json.loads(body or b"null")
        except ValueError:
            request = None
        issued = self.simulator.gatekeeper.login(request)
        if issued is None:
            return 401, {"error": {"code": 401, "message": "The username or password is wrong.",
                                   "title": "Unauthorized"}}, {}
        token, expires = issued
        answer = {"token": {"expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
                            "methods": ["password"]}}
        return 201, answer, {"X-Subject-Token": token}

    def _cover(self, query: list[tuple[str, str]]):
        expires = dict(query).get("Expires", "")
        if not expires.isdigit() or int(expires) < self.simulator.now().timestamp():
            # Object storage answers an expired signed URL with 403 AccessDenied.
            denied = "<Error><Code>AccessDenied</Code></Error>"
            return 403, denied, {"Content-Type": "application/xml"}
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
        self.wfile.write(data)
