"""A fake Slack Web API on loopback, the way slack-bolt tests itself.

It records every request, answers the Web API methods the bot calls, and answers
anything else with an error that the test sees (``unexpected``). Failures are injected
per method: ``fail(method, error=…)``, ``rate_limit(method, retry_after=…)``,
``reject_images = True`` (Slack's ``invalid_blocks`` / "downloading image failed"), and
``per_channel_rate`` enforces Slack's ~1 message per second per channel (429 with
``Retry-After``, counted in ``rate_limited``).

Slack's own limits hold by default (``enforce_limits``): more than 50 blocks or a
section text over 3,000 characters is ``invalid_blocks``, blocks carrying more than
``block_text_limit`` (12,000) characters of text ``msg_blocks_too_long``, a ``text`` over
40,000 characters ``msg_too_long``. Workspace-wide faults: ``latency`` (seconds every
call takes), ``token_error`` (every call refused, e.g. ``token_revoked``, until cleared),
``outage`` (every call answers that HTTP status, ``"html"`` a 503 page, or ``"reset"``
drops the connection).

``response_url`` posts go to ``/response/<name>`` (``response_url(name)`` builds one).

Workflow steps (in their own block below): ``function_executed(callback_id, inputs)``
builds the event Slack sends when a step of manifest.yaml's ``functions`` runs, with a
token of its own for that execution; ``functions.completeSuccess`` / ``completeError``
are recorded in ``completions``. As Slack does, an execution completes once
(``execution_not_in_running_state`` after), its token is revoked when it completes and
expires ``function_token_lifetime`` seconds after it was issued (15 minutes:
https://github.com/slackapi/bolt-python/issues/1075), and outputs must match the
function's declared output parameters (``parameter_validation_failed``).
"""

from __future__ import annotations

import functools
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from bot.domain.job_events import marker_of
from bot.simulator.server import BACKLOG

#: Slack's limits (https://api.slack.com/reference/block-kit/blocks,
#: https://api.slack.com/methods/chat.postMessage#truncating); the block text limit is
#: undocumented, reported at about 12,000 (https://github.com/slackapi/bolt-js/issues/2509).
MAX_BLOCKS = 50
SECTION_TEXT_LIMIT = 3000
BLOCK_TEXT_LIMIT = 12_000
TEXT_LIMIT = 40_000


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    #: ``time.monotonic()`` when the call arrived.
    at: float = field(default_factory=time.monotonic)


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None = None
    reply_broadcast: bool = False
    edits: list[dict[str, Any]] = field(default_factory=list)
    #: Message metadata (``event_type`` / ``event_payload``) as posted.
    metadata: dict[str, Any] | None = None
    #: Who wrote it: None for the bot; a person's message (``say``) cannot be edited.
    user: str | None = None
    #: ``time.monotonic()`` when it was posted.
    at: float = field(default_factory=time.monotonic)

    @property
    def marker(self) -> str | None:
        """The bot's exactly-once marker in the metadata, whichever event carries it."""
        return marker_of(self.metadata)


@dataclass
class _Failure:
    error: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


class FakeSlack:
    """Start with ``FakeSlack().start()``; ``url`` is the Web API base (``…/api/``)."""

    def __init__(self, *, token: str = "xoxb-test-token") -> None:
        self.token = token
        self.calls: list[Call] = []
        self.unexpected: list[str] = []
        self.messages: list[Message] = []
        self.responses: dict[str, list[dict[str, Any]]] = {}
        #: The client (host, port) of each answer accepted at a response_url: one port
        #: for several answers means one kept-alive connection.
        self.response_peers: list[tuple[str, int]] = []
        #: users.info answers: user id -> IANA timezone name.
        self.user_timezones: dict[str, str] = {}
        #: usergroups.users.list answers: user group id -> member user ids.
        self.usergroups: dict[str, list[str]] = {}
        self.reject_images = False
        #: Channels whose posts answer not_in_channel etc.: channel -> error.
        self.channel_errors: dict[str, str] = {}
        #: Messages per second per channel before answering 429 (None: unlimited).
        self.per_channel_rate: float | None = None
        #: Slack's size limits (module docstring); off only to test the sender's own sizing.
        self.enforce_limits = True
        self.block_text_limit = BLOCK_TEXT_LIMIT
        #: Seconds each Web API call takes before it is handled (a slow Slack).
        self.latency = 0.0
        #: Every Web API call answers ``{"ok": false, "error": token_error}`` while set.
        self.token_error: str | None = None
        #: Every Web API call answers this HTTP status (or drops the connection for
        #: ``"reset"``) while set: a Slack incident.
        self.outage: int | str | None = None
        #: 429s answered because of ``per_channel_rate``.
        self.rate_limited = 0
        self.team_id = "T0TEST"
        self.bot_user_id = "U0BOT"
        self._failures: dict[str, list[_Failure]] = {}
        self._last_post: dict[str, float] = {}
        self._lock = threading.RLock()
        self._next_ts = 1_700_000_000_000100
        self._server: ThreadingHTTPServer | None = None
        # -- files, views.publish, memberships (state of the block at the end) --------
        #: Uploaded files by id (files.getUploadURLExternal ... completeUploadExternal).
        self.files: dict[str, FakeFile] = {}
        #: Upload POSTs answer 500 (the bytes never arrive).
        self.fail_uploads = False
        #: chat.postMessage refuses every ``slack_file`` image (Slack still processing it).
        self.reject_slack_files = False
        #: The Home tab each user sees (views.publish), and every publish per user.
        self.home_views: dict[str, dict[str, Any]] = {}
        self.publishes: dict[str, list[float]] = {}
        #: views.publish: at most this many per user per ``publish_window`` seconds, and
        #: ``publish_workspace_limit`` per window in all (Slack's Tier 4 is ~100/minute).
        self.publish_per_user: int | None = None
        self.publish_workspace_limit: int | None = None
        self.publish_window = 60.0
        #: views.publish calls answered 429.
        self.publish_refusals = 0
        #: users.conversations: user id -> channel ids the user is a member of.
        self.memberships: dict[str, list[str]] = {}
        # -- workflow steps (state of the block at the end) -----------------------------
        #: function_execution_id -> the execution Slack started.
        self.executions: dict[str, FunctionExecution] = {}
        #: Every functions.completeSuccess / completeError accepted, in order.
        self.completions: list[Completion] = []
        #: Seconds an execution's token works after it was issued.
        self.function_token_lifetime = 15 * 60.0

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Slack serves it

            def do_POST(self) -> None:
                fake._handle(self)

            def do_GET(self) -> None:
                fake._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = BACKLOG  # as the simulator's, for the same reason

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a dropped connection ("reset" outage) is the point, not news

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return f"{self.base}/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.base}/response/{name}"

    # -- failure injection ------------------------------------------------------------

    def fail(
        self,
        method: str,
        error: str,
        *,
        status: int = 200,
        times: int = 1,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        """The next ``times`` calls of ``method`` answer ``{"ok": false, "error": error}``."""
        with self._lock:
            self._failures.setdefault(method, []).append(
                _Failure(error, status, headers or {}, times, extra)
            )

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        self.fail(
            method, "ratelimited", status=429, times=times,
            headers={"Retry-After": str(retry_after)},
        )

    # -- queries for tests ------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def posts(self, channel: str | None = None) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if channel is None or m.channel == channel]

    def thread(self, channel: str, ts: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.channel == channel and m.thread_ts == ts]

    def message(self, channel: str, ts: str) -> Message | None:
        with self._lock:
            for m in self.messages:
                if m.channel == channel and m.ts == ts:
                    return m
        return None

    def wait_for(self, predicate, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if predicate(self):
                    return True
            time.sleep(0.01)
        return False

    # -- request handling ----------------------------------------------------------------

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(req.path)
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length) if length else b""
        args: dict[str, Any] = dict(parse_qsl(parts.query))
        ctype = req.headers.get("Content-Type", "")
        if parts.path.startswith("/upload/"):
            pass
        elif raw and "json" in ctype:
            args.update(json.loads(raw))
        elif raw:
            args.update(parse_qsl(raw.decode()))
        for key in ("blocks", "attachments", "metadata", "files", "view"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        headers = {k: v for k, v in req.headers.items()}

        if parts.path.startswith("/upload/"):  # before parsing: the body is the file's bytes
            return self._upload(req, parts.path.removeprefix("/upload/"), raw)
        if parts.path.startswith("/response/"):
            name = parts.path.removeprefix("/response/")
            with self._lock:
                self.calls.append(Call("response_url", args, headers))
                if self.reject_images and _has_images(args.get("blocks") or []):
                    # Incoming webhooks answer a refused message in plain text.
                    return self._send(req, 400, "invalid_blocks", content_type="text/plain")
                self.responses.setdefault(name, []).append(args)
                self.response_peers.append(req.client_address)
            return self._send(req, 200, "ok", content_type="text/plain")

        method = parts.path.removeprefix("/api/")
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            self.calls.append(Call(method, args, headers))
            failure = self._take_failure(method)
            outage, token_error = self.outage, self.token_error
        if outage == "reset":
            # The connection drops before any answer, as during a network incident.
            req.close_connection = True
            req.wfile.flush()
            req.connection.shutdown(socket.SHUT_RDWR)
            return None
        if outage == "html":
            # What a load balancer in front of Slack answers during an incident.
            return self._send(req, 503, "<html><body>503 Service Unavailable</body></html>",
                              content_type="text/html")
        if outage is not None:
            return self._send(req, int(outage), {"ok": False, "error": "service_unavailable"})
        bearer = headers.get("Authorization", "").removeprefix("Bearer ")
        execution = self._execution_of(bearer)
        if execution is not None:
            refused = execution.token_refusal(self.function_token_lifetime)
            if refused:
                return self._send(req, 200, {"ok": False, "error": refused})
        elif bearer != self.token and "token" not in args:
            return self._send(req, 200, {"ok": False, "error": "not_authed"})
        if token_error:
            return self._send(req, 200, {"ok": False, "error": token_error})
        if failure:
            body = {"ok": False, "error": failure.error, **failure.extra}
            return self._send(req, failure.status, body, headers=failure.headers)

        handler = getattr(self, "_api_" + method.replace(".", "_"), None)
        if handler is None:
            with self._lock:
                self.unexpected.append(method)
            return self._send(req, 404, {"ok": False, "error": "unknown_method"})
        if method.startswith("functions."):
            args = {**args, "_token": bearer}
        status, body, extra_headers = handler(args)
        self._send(req, status, body, headers=extra_headers)

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.pop(0)
        return failure

    def _send(self, req, status: int, body: Any, *, headers=None, content_type=None) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        req.send_response(status)
        req.send_header("Content-Type", content_type or "application/json; charset=utf-8")
        req.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            req.send_header(k, v)
        req.end_headers()
        req.wfile.write(data)

    def _new_ts(self) -> str:
        self._next_ts += 100
        return f"{self._next_ts // 1_000_000}.{self._next_ts % 1_000_000:06d}"

    # -- Web API methods ----------------------------------------------------------------

    def _api_auth_test(self, args):
        return 200, {
            "ok": True, "url": "https://test.slack.com/", "team": "Test", "user": "videojobs",
            "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": "B0BOT",
        }, {}

    def _api_users_info(self, args):
        user = args.get("user", "")
        tz = self.user_timezones.get(user)
        if tz is None:
            return 200, {"ok": False, "error": "user_not_found"}, {}
        return 200, {"ok": True, "user": {"id": user, "tz": tz, "tz_offset": 0}}, {}

    def _api_usergroups_users_list(self, args):
        members = self.usergroups.get(args.get("usergroup", ""))
        if members is None:
            return 200, {"ok": False, "error": "no_such_subteam"}, {}
        return 200, {"ok": True, "users": list(members)}, {}

    def _api_usergroups_list(self, args):
        # Slack: the workspace's user groups (enabled ones unless include_disabled).
        groups = [{"id": group, "handle": group.lower(), "name": group,
                   "date_delete": 0} for group in sorted(self.usergroups)]
        return 200, {"ok": True, "usergroups": groups}, {}

    def _channel_check(self, channel: str):
        if not channel:  # Slack: a post or edit that names no channel
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        error = self.channel_errors.get(channel)
        if error:
            return 200, {"ok": False, "error": error}, {}
        return None

    def _api_chat_postMessage(self, args):
        channel = args.get("channel", "")
        with self._lock:
            refused = self._channel_check(channel)
            if refused:
                return refused
            if self.per_channel_rate:
                now = time.monotonic()
                last = self._last_post.get(channel)
                gap = 1.0 / self.per_channel_rate
                if last is not None and now - last < gap:
                    wait = max(1, round(gap - (now - last) + 0.5))
                    self.rate_limited += 1
                    return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(wait)}
                self._last_post[channel] = now
            blocks = args.get("blocks")
            refused = self._check_slack_files(blocks or [])
            if refused:
                return refused
            oversized = self._size_refusal(args)
            if oversized:
                return oversized
            if self.reject_images and blocks:
                for i, block in enumerate(blocks):
                    if _has_images([block]) and not block.get("slack_file"):
                        return 200, {
                            "ok": False, "error": "invalid_blocks",
                            "errors": [
                                f"downloading image failed [json-pointer:/blocks/{i}/image_url]"
                            ],
                        }, {}
            ts = self._new_ts()
            self.messages.append(Message(
                channel=channel, ts=ts, text=args.get("text", ""), blocks=blocks,
                thread_ts=args.get("thread_ts"),
                reply_broadcast=str(args.get("reply_broadcast", "")).lower() in ("true", "1"),
                metadata=args.get("metadata"),
            ))
        return 200, {"ok": True, "channel": channel, "ts": ts, "message": {"ts": ts}}, {}

    def _api_chat_update(self, args):
        channel, ts = args.get("channel", ""), args.get("ts", "")
        with self._lock:
            refused = self._channel_check(channel)
            if refused:
                return refused
            msg = self.message(channel, ts)
            if msg is None:
                return 200, {"ok": False, "error": "message_not_found"}, {}
            if msg.user is not None:
                return 200, {"ok": False, "error": "cant_update_message"}, {}
            oversized = self._size_refusal(args)
            if oversized:
                return oversized
            msg.edits.append({"text": msg.text, "blocks": msg.blocks})
            msg.text = args.get("text", msg.text)
            msg.blocks = args.get("blocks", msg.blocks)
        return 200, {"ok": True, "channel": channel, "ts": ts}, {}

    def _size_refusal(self, args):
        """Slack's answer to a message over its limits, or None."""
        if not self.enforce_limits:
            return None
        blocks = args.get("blocks") or []
        if len(str(args.get("text") or "")) > TEXT_LIMIT:
            return 200, {"ok": False, "error": "msg_too_long"}, {}
        if len(blocks) > MAX_BLOCKS:
            return 200, {"ok": False, "error": "invalid_blocks", "errors": [
                f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"]}, {}
        for i, block in enumerate(blocks):
            text = block.get("text") if isinstance(block, dict) else None
            if isinstance(text, dict) and len(str(text.get("text") or "")) > SECTION_TEXT_LIMIT:
                return 200, {"ok": False, "error": "invalid_blocks", "errors": [
                    f"must be less than {SECTION_TEXT_LIMIT + 1} characters "
                    f"[json-pointer:/blocks/{i}/text/text]"]}, {}
        if block_text_chars(blocks) > self.block_text_limit:
            return 200, {"ok": False, "error": "msg_blocks_too_long"}, {}
        return None

    def _api_chat_postEphemeral(self, args):
        with self._lock:
            refused = self._channel_check(args.get("channel", ""))
        return refused or (200, {"ok": True, "message_ts": self._new_ts()}, {})

    def _api_conversations_replies(self, args):
        """The thread's parent and replies, oldest first, in one page. Metadata only
        with ``include_all_metadata`` (as Slack does)."""
        channel, ts = args.get("channel", ""), args.get("ts", "")
        with self._lock:
            refused = self._channel_check(channel)
            if refused:
                return refused
            thread = [m for m in self.messages if m.channel == channel
                      and (m.ts == ts or m.thread_ts == ts)]
            if not thread:
                return 200, {"ok": False, "error": "thread_not_found"}, {}
            return 200, {"ok": True, "messages": [_as_api(m, args) for m in thread],
                         "has_more": False}, {}

    def _api_conversations_history(self, args):
        """Top-level messages (and broadcast replies), newest first, in one page.
        ``oldest`` is not applied: the fake's ts are not wall-clock times."""
        channel = args.get("channel", "")
        if channel[:1] in ("U", "W"):
            # A message can be posted to a user id, but a history is read by the direct
            # message's own id (conversations.open); Slack refuses a user id here.
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        # Messages posted to user U… live in the direct message D… (see conversations.open).
        same = {channel, "U" + channel[1:]} if channel.startswith("D") else {channel}
        with self._lock:
            refused = self._channel_check(channel)
            if refused:
                return refused
            top = [m for m in self.messages if m.channel in same
                   and (m.thread_ts is None or m.reply_broadcast)]
            return 200, {"ok": True, "messages": [_as_api(m, args) for m in reversed(top)],
                         "has_more": False}, {}


    # == files, views.publish, users.conversations ===========================================

    def say(self, channel: str, text: str, *, user: str | None = "U2",
            thread_ts: str | None = None) -> Message:
        """A message a person posts (what a message shortcut is used on); ``user=None``:
        one of the bot's own, such as an announcement."""
        with self._lock:
            message = Message(channel=channel, ts=self._new_ts(), text=text, blocks=None,
                              thread_ts=thread_ts, user=user)
            self.messages.append(message)
        return message
    # The upload flow files_upload_v2 drives (files.getUploadURLExternal, a POST of the
    # bytes to the URL it returned, files.completeUploadExternal), image blocks that
    # reference an uploaded file with ``slack_file``, the Home tab (views.publish, with
    # Slack's rate limits), and the channels a user is in.

    def _api_files_getUploadURLExternal(self, args):
        filename, length = args.get("filename"), str(args.get("length", ""))
        if not filename or not length.isdigit() or int(length) <= 0:
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        with self._lock:
            file_id = f"F{len(self.files) + 1:010d}"
            self.files[file_id] = FakeFile(file_id, filename, int(length), args.get("alt_txt"))
        return 200, {"ok": True, "upload_url": f"{self.base}/upload/{file_id}",
                     "file_id": file_id}, {}

    def _upload(self, req: BaseHTTPRequestHandler, file_id: str, raw: bytes) -> None:
        with self._lock:
            self.calls.append(Call("upload", {"file_id": file_id, "bytes": len(raw)}, {}))
            file = self.files.get(file_id)
            if self.fail_uploads or file is None:
                return self._send(req, 500 if file else 404, "upload failed",
                                  content_type="text/plain")
            file.data = raw
        self._send(req, 200, f"OK - {len(raw)}", content_type="text/plain")

    def _api_files_completeUploadExternal(self, args):
        entries = args.get("files")
        if not isinstance(entries, list) or not entries:
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        done = []
        with self._lock:
            for entry in entries:
                file = self.files.get(str(entry.get("id")))
                if file is None or file.data is None or len(file.data) != file.length:
                    return 200, {"ok": False, "error": "file_upload_not_completed"}, {}
                file.title = entry.get("title") or file.filename
                file.completed = True
                file.channel = args.get("channel_id")
                done.append({"id": file.id, "name": file.filename, "title": file.title,
                             "size": file.length, "mimetype": "image/png",
                             "permalink": f"{self.base}/files/{file.id}"})
        return 200, {"ok": True, "files": done}, {}

    def _check_slack_files(self, blocks: list[dict[str, Any]]):
        """Slack refuses an image block whose ``slack_file`` is not a completed upload."""
        for i, block in enumerate(blocks):
            ref = block.get("slack_file") if block.get("type") == "image" else None
            if ref is None:
                continue
            file = self.files.get(str(ref.get("id")))
            if self.reject_slack_files or file is None or not file.completed:
                return 200, {"ok": False, "error": "invalid_blocks", "errors": [
                    f"invalid slack file [json-pointer:/blocks/{i}/slack_file]"]}, {}
        return None

    def _api_views_publish(self, args):
        user, view = args.get("user_id", ""), args.get("view")
        if not user or not isinstance(view, dict) or view.get("type") != "home":
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        if len(view.get("blocks") or []) > 100:  # Slack: a view holds up to 100 blocks
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        with self._lock:
            now = time.monotonic()
            mine = [t for t in self.publishes.get(user, []) if now - t < self.publish_window]
            everyone = [t for ts in self.publishes.values() for t in ts
                        if now - t < self.publish_window]
            over_user = self.publish_per_user is not None and len(mine) >= self.publish_per_user
            over_all = self.publish_workspace_limit is not None and \
                len(everyone) >= self.publish_workspace_limit
            if over_user or over_all:
                self.publish_refusals += 1
                wait = max(1, round(self.publish_window - (now - min(mine or everyone))))
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(wait)}
            self.publishes.setdefault(user, []).append(now)
            self.home_views[user] = view
        return 200, {"ok": True, "view": {"id": f"V{user}", "type": "home", **view}}, {}

    def _api_users_conversations(self, args):
        """The user's channels, ``limit`` a page, with a cursor (Slack paginates)."""
        channels = self.memberships.get(args.get("user", ""), [])
        start = int(args.get("cursor") or 0)
        limit = int(args.get("limit") or 100)
        page = channels[start:start + limit]
        more = start + limit < len(channels)
        return 200, {"ok": True, "channels": [{"id": c, "name": c.lower()} for c in page],
                     "response_metadata": {"next_cursor": str(start + limit) if more else ""}}, {}

    def _api_conversations_open(self, args):
        """A direct message with ``users`` (one user): its ``D…`` id."""
        user = str(args.get("users") or "")
        if not user.startswith("U") or "," in user:
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        return 200, {"ok": True, "channel": {"id": "D" + user[1:]}}, {}


    # == workflow steps (custom functions) ====================================================

    def function_executed(self, callback_id: str, inputs: dict[str, Any] | None = None,
                          ) -> tuple[dict[str, Any], FunctionExecution]:
        """A step of manifest.yaml's ``functions`` starts: the Events API body Slack
        sends (https://docs.slack.dev/reference/events/function_executed), and the
        execution, whose token is issued now."""
        definition = manifest_functions()[callback_id]
        execution = FunctionExecution(
            id=f"Fx{uuid.uuid4().hex[:10].upper()}", callback_id=callback_id,
            inputs=dict(inputs or {}), token=f"xwfp-{uuid.uuid4().hex}")
        with self._lock:
            self.executions[execution.id] = execution
        event = {
            "type": "function_executed",
            "function": {
                "id": f"Fn{abs(hash(callback_id)) % 10**10:010d}", "callback_id": callback_id,
                "title": definition["title"], "description": definition["description"],
                "type": "app", "app_id": "A1", "date_created": 1700000000,
                "date_updated": 1700000000, "date_deleted": 0,
                "input_parameters": _parameters(definition["input_parameters"]),
                "output_parameters": _parameters(definition["output_parameters"]),
            },
            "inputs": execution.inputs,
            "function_execution_id": execution.id,
            "workflow_execution_id": f"Wx{uuid.uuid4().hex[:10].upper()}",
            "event_ts": f"{time.time():.6f}",
            "bot_access_token": execution.token,
        }
        body = {
            "token": "legacy-verification-token", "team_id": self.team_id,
            "api_app_id": "A1", "event": event, "type": "event_callback",
            "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}", "event_time": int(time.time()),
            "authorizations": [{"enterprise_id": None, "team_id": self.team_id,
                                "user_id": self.bot_user_id, "is_bot": True,
                                "is_enterprise_install": False}],
            "is_ext_shared_channel": False,
        }
        return body, execution

    def completions_of(self, execution_id: str) -> list[Completion]:
        with self._lock:
            return [c for c in self.completions if c.execution_id == execution_id]

    def wait_for_completion(self, execution_id: str, timeout: float = 10.0) -> Completion | None:
        """The execution's completion, once it came (None after ``timeout``)."""
        self.wait_for(lambda f: f.completions_of(execution_id), timeout)
        done = self.completions_of(execution_id)
        return done[0] if done else None

    def _execution_of(self, token: str) -> FunctionExecution | None:
        with self._lock:
            return next((e for e in self.executions.values() if e.token == token), None)

    def _complete(self, args: dict[str, Any], *, outputs: Any = None,
                  error: str | None = None):
        with self._lock:
            execution = self.executions.get(str(args.get("function_execution_id")))
            if execution is None:
                return 200, {"ok": False, "error": "function_execution_not_found"}, {}
            if args.get("_token") != execution.token:
                # The fake holds the bot to completing with the execution's own token.
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            if execution.completed is not None:
                return 200, {"ok": False, "error": "execution_not_in_running_state"}, {}
            if error is None:
                problem = _output_problem(manifest_functions()[execution.callback_id],
                                          outputs)
                if problem:
                    return 200, {"ok": False, "error": "parameter_validation_failed",
                                 "errors": [problem]}, {}
            execution.completed = time.monotonic()
            self.completions.append(Completion(execution.id, execution.callback_id,
                                               outputs if error is None else None, error))
        return 200, {"ok": True}, {}

    def _api_functions_completeSuccess(self, args):
        outputs = args.get("outputs")
        if isinstance(outputs, str):
            outputs = json.loads(outputs)
        return self._complete(args, outputs=outputs)

    def _api_functions_completeError(self, args):
        error = args.get("error")
        if not isinstance(error, str) or not error:
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        return self._complete(args, error=error)


@dataclass
class FunctionExecution:
    """A step Slack started; ``completed`` (monotonic) once it completed."""

    id: str
    callback_id: str
    inputs: dict[str, Any]
    token: str
    issued: float = field(default_factory=time.monotonic)
    completed: float | None = None

    def token_refusal(self, lifetime: float) -> str | None:
        """Why Slack refuses this execution's token now, if it does."""
        if self.completed is not None:
            return "token_revoked"
        if time.monotonic() - self.issued > lifetime:
            return "token_expired"
        return None


@dataclass
class Completion:
    """One accepted completion: ``outputs`` (completeSuccess) or ``error``."""

    execution_id: str
    callback_id: str
    outputs: dict[str, Any] | None
    error: str | None
    at: float = field(default_factory=time.monotonic)


_MANIFEST = Path(__file__).parents[2] / "manifest.yaml"


@functools.cache
def manifest_functions() -> dict[str, Any]:
    """manifest.yaml's ``functions``: what Slack knows of the app's steps (read once)."""
    return dict(yaml.safe_load(_MANIFEST.read_text())["functions"])


def _parameters(declared: dict[str, Any]) -> list[dict[str, Any]]:
    """Parameters as the event lists them (a list, each with its name)."""
    return [{"name": name, "is_required": False, **spec} for name, spec in declared.items()]


#: How Slack checks an output value of each declared type.
_OUTPUT_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "slack#/types/timestamp": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "slack#/types/user_id": lambda v: isinstance(v, str) and v[:1] in ("U", "W"),
}


def _output_problem(definition: dict[str, Any], outputs: Any) -> str | None:
    declared = definition["output_parameters"]
    if not isinstance(outputs, dict):
        return "outputs must be an object"
    for name, value in outputs.items():
        spec = declared.get(name)
        if spec is None:
            return f"{name}: not an output of this function"
        if not _OUTPUT_CHECKS.get(spec["type"], lambda v: v is not None)(value):
            return f"{name}: not a {spec['type']}: {value!r}"
    missing = [n for n, spec in declared.items() if spec.get("is_required") and n not in outputs]
    return f"missing required outputs: {missing}" if missing else None


@dataclass
class FakeFile:
    """A file being uploaded (no ``data`` yet), uploaded, or completed."""

    id: str
    filename: str
    length: int
    alt_txt: str | None = None
    data: bytes | None = None
    title: str | None = None
    completed: bool = False
    channel: str | None = None


def _as_api(message: Message, args: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "message", "ts": message.ts, "text": message.text}
    if message.thread_ts:
        out["thread_ts"] = message.thread_ts
    if message.blocks:
        out["blocks"] = message.blocks
    include = str(args.get("include_all_metadata", "")).lower() in ("true", "1")
    if message.metadata and include:
        out["metadata"] = message.metadata
    return out


def block_text_chars(value: Any) -> int:
    """Characters of text the blocks carry: every ``text`` string at any depth (section
    texts, fields, context elements, headers)."""
    if isinstance(value, list):
        return sum(block_text_chars(v) for v in value)
    if not isinstance(value, dict):
        return 0
    total = 0
    for key, inner in value.items():
        if key == "text" and isinstance(inner, str):
            total += len(inner)
        elif isinstance(inner, (dict, list)):
            total += block_text_chars(inner)
    return total


def _has_images(blocks: list[dict[str, Any]]) -> bool:
    """An image block, an image accessory, or an image in a context block."""
    for block in blocks:
        elements = [e for e in block.get("elements") or [] if isinstance(e, dict)]
        if block.get("type") == "image" or (block.get("accessory") or {}).get("type") == "image":
            return True
        if any(e.get("type") == "image" for e in elements):
            return True
    return False
