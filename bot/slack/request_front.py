"""The gate in front of Bolt for ``POST /slack/events``: size, signature, timestamp and
shape are checked on the raw bytes before anything else runs, and an Events API event
Slack retries is let through once.

Bolt's own WSGI adapter decodes and parses the body before it verifies the signature,
so a stranger's malformed body (invalid UTF-8, ``{x``, a timestamp of ``yesterday``)
became an HTTP 500, and a refused body was logged whole. Here an unsigned or stale
request is 401 and a too-large one 413 without its body ever being read whole or
logged; only a signed, well-formed request reaches Bolt.

Well-formed means of the right shape too: Bolt and the listeners dereference fields of
the body before any listener can check them (``slack_bolt.request.internals`` builds the
context from ``team``, ``user``, ``authorizations``, ``event``…; the matchers read
``event.type``, ``actions[0].action_id``, ``view.callback_id``), and a signed body with
one of them of the wrong type (``event`` null, ``event.user`` a number, ``authorizations``
a string) was an exception inside Bolt: a 500, which Slack retries. :func:`shape_problem`
checks those fields' types (pydantic, strict) and the front answers 400 with
``X-Slack-No-Retry: 1``, logging the field's name, never the body. Unknown event types
and fields pass: the check is about what is read, not about what Slack may add. Bolt
then reads the body as checked, re-encoded as JSON, so the two never parse it
differently.

Slack retries an event it believes was not acknowledged (no 200 within 3 seconds, or a
5xx), up to three times, with ``X-Slack-Retry-Num`` and the same ``event_id``. The front
asks ``first_time(event_id)`` (the tracking database, shared by every process and
deployment, given by the composition root) and acks a retry of an event already let
through with an empty 200 at once, without Bolt. See docs/operations.md.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar
from urllib.parse import parse_qsl

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

log = logging.getLogger(__name__)

#: Largest body accepted. Slack's slash commands and block actions are a few KiB; a
#: block action carries at most the message it was clicked in (50 blocks of at most
#: 3,000 characters, https://api.slack.com/reference/block-kit/blocks), which
#: form-encoded JSON keeps well under this.
MAX_BODY_BYTES = 512 * 1024
#: Slack's replay window (https://api.slack.com/authentication/verifying-requests-from-slack).
MAX_AGE_SECONDS = 5 * 60
#: Unix seconds as Slack sends them; anything else ("yesterday", 10^400) is refused.
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^v0=[0-9a-f]{64}$")


@dataclass(frozen=True)
class Refusal:
    """What the front answers instead of Bolt: a 4xx, or a 200 for an event Slack
    retries that was already let through."""

    status: str
    reason: str

    @property
    def final(self) -> bool:
        """Slack retries whatever is not a 2xx; the same body would be refused again."""
        return self.status.startswith(("400", "413"))


def _refused(status: str, reason: str) -> Refusal:
    return Refusal(status, reason)


class SlackRequestGate:
    """Checks one request's environ; :meth:`admit` returns a refusal, or None after
    replacing ``wsgi.input`` with the body as checked (JSON) for Bolt to read. Built
    with an empty ``signing_secret`` it refuses every request."""

    def __init__(self, signing_secret: str, *,
                 first_time: Callable[[str], bool] | None = None,
                 clock: Callable[[], float] = time.time, max_body: int = MAX_BODY_BYTES) -> None:
        """``first_time(event_id)`` records an event id and says whether it is new (None:
        every event is new)."""
        self._secret = signing_secret.encode()
        self._first_time = first_time
        self._clock = clock
        self.max_body = max_body

    def admit(self, environ: dict[str, Any]) -> Refusal | None:
        if not self._secret:
            # Nothing can be verified: an HMAC keyed with "" is anyone's to compute.
            return _refused("401 Unauthorized", "no signing secret: every request is refused")
        length = _content_length(environ)
        if length is None:
            return _refused("411 Length Required", "no or malformed Content-Length")
        if length > self.max_body:
            return _refused("413 Content Too Large", f"body of {length} bytes")
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
        if not _TIMESTAMP.match(timestamp) or not _SIGNATURE.match(signature):
            return _refused("401 Unauthorized", "missing or malformed signature headers")
        if abs(self._clock() - int(timestamp)) > MAX_AGE_SECONDS:
            # A genuine request held up in transit, or a replay: either way nothing of
            # its body (legacy token, response_url) is logged.
            return _refused("401 Unauthorized", "timestamp outside the 5-minute window")
        body = _read(environ, length)
        if len(body) != length:
            return _refused("400 Bad Request", "body shorter than its Content-Length")
        if not _signed(self._secret, timestamp, body, signature):
            return _refused("401 Unauthorized", "invalid signature")
        # Signed by someone holding the secret, yet not something Bolt can parse.
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return _refused("400 Bad Request", "signed body is not UTF-8")
        parsed = parse(text, environ.get("CONTENT_TYPE"))
        if parsed is None:
            return _refused("400 Bad Request", "signed body is not Slack's format")
        problem = shape_problem(parsed)
        if problem is not None:
            return _refused("400 Bad Request", f"signed body of the wrong shape: {problem}")
        event = event_id(parsed)
        if event is not None and already_let_through(self._first_time, event):
            retry = environ.get("HTTP_X_SLACK_RETRY_NUM", "")
            return _refused("200 OK", f"event {event} already let through (Slack's retry "
                                      f"{retry if retry in ('1', '2', '3') else '?'})")
        # Bolt parses the body again, and takes any form with "payload" anywhere in its
        # text for an interactive payload: a command saying "payload" became an empty
        # body (404). It gets what was checked here instead, as JSON.
        try:
            checked = json.dumps(parsed).encode()
        except (ValueError, RecursionError):  # nested just as deep as parsing allowed
            return _refused("400 Bad Request", "signed body is not Slack's format")
        environ["wsgi.input"] = io.BytesIO(checked)
        environ["CONTENT_LENGTH"] = str(len(checked))
        environ["CONTENT_TYPE"] = "application/json"
        return None


def refuse(refusal: Refusal, environ: dict[str, Any],
           start_response: Callable[..., Any]) -> list[bytes]:
    """Answer ``refusal`` with a one-line JSON body (a 200: an empty one); log the
    reason, never the body."""
    if refusal.status.startswith("2"):
        log.info("acked %s %s without handling it: %s", environ.get("REQUEST_METHOD"),
                 environ.get("PATH_INFO"), refusal.reason)
        start_response(refusal.status, [("Content-Length", "0")])
        return [b""]
    log.info("refused %s %s: %s (%s)", environ.get("REQUEST_METHOD"),
             environ.get("PATH_INFO"), refusal.status, refusal.reason)
    body = json.dumps({"error": refusal.status.split(" ", 1)[1]}).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    if refusal.final:
        headers.append(("X-Slack-No-Retry", "1"))
    start_response(refusal.status, headers)
    return [body]


def _signed(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    # Slack's v0 scheme on the raw bytes (https://api.slack.com/authentication/
    # verifying-requests-from-slack); slack_sdk's SignatureVerifier decodes the body as
    # UTF-8 first and raises on bytes that are not.
    digest = hmac.new(secret, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return hmac.compare_digest("v0=" + digest.hexdigest(), signature)


def parse(text: str, content_type: str | None) -> dict[str, Any] | None:
    """The body as Bolt reads it (``slack_bolt.request.internals.parse_body``: JSON when
    declared or when it starts with ``{``, else a form whose ``payload`` field, if any,
    is JSON), or None when that fails or is not an object. Unlike Bolt, ``payload`` is
    looked for among the form's fields, not anywhere in its text."""
    media = (content_type or "").split(";")[0].strip().lower()
    try:
        if media == "application/json" or text.startswith("{"):
            parsed = json.loads(text)
        else:
            form = dict(parse_qsl(text, keep_blank_values=True))
            parsed = json.loads(form["payload"]) if "payload" in form else form
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


# -- the shape of what Bolt and the listeners read --------------------------------------
#
# Strict: a number is not an id, a string is not an object. Extra fields pass unread.
# Sources: slack_bolt.request.internals (the context: ids at every level it looks into),
# slack_bolt.request.payload_utils and listener_matcher.builtins (what tells kinds
# apart), the ignoring_self_events, message_listener_matches and ssl_check middleware,
# and this bot's listeners (bot/slack/listeners/).


def _http_url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("not an http(s) URL")
    return value


_Url = Annotated[str, AfterValidator(_http_url)]
#: Slack's event ids ("Ev0PV52K21"): remembered and logged, so short and plain.
_EventId = Annotated[str, Field(pattern=r"^[0-9A-Za-z_.-]{1,64}$")]


class _Shape(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", frozen=True)
    #: Fields that may be missing but are never null: Bolt reads them as
    #: ``body.get(key, {}).get(...)`` or indexes them once present.
    never_null: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _present_means_not_null(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in cls.never_null:
                if key in data and data[key] is None:
                    raise ValueError(f"{key} is null")
        return data


class _Ref(_Shape):
    """A team, enterprise, user or channel given as an object."""

    id: str | None = None
    team_id: str | None = None
    enterprise_id: str | None = None
    name: str | None = None


class _Ids(_Shape):
    """What Bolt's context extractors read, at every level they look into: the body,
    ``authorizations[0]``, ``event``, ``message``, ``previous_message``, ``item`` and
    ``assistant_thread``."""

    type: str | None = None
    team: str | _Ref | None = None
    enterprise: str | _Ref | None = None
    user: str | _Ref | None = None
    channel: str | _Ref | None = None
    team_id: str | None = None
    enterprise_id: str | None = None
    user_id: str | None = None
    channel_id: str | None = None
    user_team: str | None = None
    context_team_id: str | None = None
    context_enterprise_id: str | None = None
    is_enterprise_install: bool | str | None = None
    is_ext_shared_channel: bool | None = None
    thread_ts: str | None = None
    ts: str | None = None
    text: str | None = None
    function_execution_id: str | None = None
    bot_access_token: str | None = None
    authorizations: list[_Ids] | None = None
    message: _Ids | None = None
    previous_message: _Ids | None = None
    item: _Ids | None = None
    assistant_thread: _Ids | None = None


class _State(_Shape):
    values: dict[str, dict[str, dict[str, Any]]] | None = None


class _View(_Shape):
    id: str | None = None
    type: str | None = None
    callback_id: str | None = None
    team_id: str | None = None
    app_installed_team_id: str | None = None
    private_metadata: str | None = None
    hash: str | None = None
    state: _State | None = None


class _Function(_Shape):
    callback_id: str


class _Event(_Ids):
    never_null: ClassVar[tuple[str, ...]] = ("function",)
    type: str
    subtype: str | None = None
    channel_type: str | None = None
    bot_id: str | None = None
    tab: str | None = None
    event_ts: str | None = None
    callback_id: str | None = None
    view: _View | None = None
    function: _Function | None = None
    inputs: dict[str, Any] | None = None
    workflow_step: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _known_events(self) -> _Event:
        # function_executed: Bolt matches it by ``function.callback_id`` and hands the
        # step its inputs and its own token; Slack always sends them.
        if self.type == "function_executed" and (
                self.function is None or self.function_execution_id is None
                or self.inputs is None):
            raise ValueError("function_executed without function, its execution id or inputs")
        # app_home_opened: the Home listener publishes the tab of ``event.user``, an id.
        if self.type == "app_home_opened" and not isinstance(self.user, str):
            raise ValueError("app_home_opened without a user id")
        return self


class _Action(_Shape):
    action_id: str | None = None
    block_id: str | None = None
    type: str | None = None
    value: str | None = None
    action_ts: str | None = None


class _ResponseUrl(_Shape):
    response_url: _Url
    block_id: str | None = None
    action_id: str | None = None
    channel_id: str | None = None


class _FunctionData(_Shape):
    execution_id: str | None = None
    inputs: dict[str, Any] | None = None


class _Body(_Ids):
    """Any body: what Bolt's middleware reads before it knows the kind."""

    never_null: ClassVar[tuple[str, ...]] = (
        "event", "view", "actions", "response_url", "response_urls", "function_data")
    event: _Event | None = None
    view: _View | None = None
    actions: Sequence[_Action] | None = None
    response_url: _Url | None = None
    response_urls: list[_ResponseUrl] | None = None
    function_data: _FunctionData | None = None
    callback_id: str | None = None
    trigger_id: str | None = None
    command: str | None = None
    event_id: _EventId | None = None
    ssl_check: str | None = None


class _EventCallback(_Body):
    event: _Event
    event_id: _EventId


class _UrlVerification(_Body):
    challenge: str


class _User(_Ref):
    id: str


class _Container(_Shape):
    """Where a clicked element was: the Retry button reads the message's thread from it."""

    type: str | None = None
    message_ts: str | None = None
    thread_ts: str | None = None
    channel_id: str | None = None
    view_id: str | None = None
    is_ephemeral: bool | None = None


class _Interactive(_Body):
    """Interactive payloads: this bot's listeners read ``user.id``, ``channel.id`` and
    ``channel.name``, ``view.type`` and ``container.is_ephemeral`` as objects' fields."""

    user: _User
    team: _Ref | None = None
    enterprise: _Ref | None = None
    channel: _Ref | None = None
    message: _Ids | None = None
    container: _Container | None = None


class _BlockAction(_Action):
    action_id: str


class _BlockActions(_Interactive):
    actions: Sequence[_BlockAction] = Field(min_length=1)


class _CallbackId(_Interactive):
    """Shortcuts, legacy attachments' buttons and dialogs: matched by ``callback_id``."""

    callback_id: str


class _MessageAction(_CallbackId):
    response_url: _Url


class _SubmittedView(_View):
    type: str
    callback_id: str


class _ViewPayload(_Interactive):
    view: _SubmittedView


class _BlockSuggestion(_Interactive):
    action_id: str
    value: str


class _Command(_Body):
    """A slash command (a form: every value is a string; what matters is what is there)."""

    command: str
    text: str = ""
    user_id: str
    channel_id: str
    response_url: _Url


_KINDS: dict[str, type[_Shape]] = {
    "event_callback": _EventCallback,
    "url_verification": _UrlVerification,
    "block_actions": _BlockActions,
    "message_action": _MessageAction,
    "shortcut": _CallbackId,
    "interactive_message": _CallbackId,
    "dialog_submission": _CallbackId,
    "dialog_cancellation": _CallbackId,
    "dialog_suggestion": _CallbackId,
    "workflow_step_edit": _CallbackId,
    "view_submission": _ViewPayload,
    "view_closed": _ViewPayload,
    "block_suggestion": _BlockSuggestion,
}
#: Names that may appear in a refusal's reason; anything else of a location (a key of
#: the body's own, such as a block id in ``view.state.values``) is not logged.
_MODELS: tuple[type[_Shape], ...] = (*_KINDS.values(), _Body, _Command, _Event, _View, _State,
                                      _Ref, _ResponseUrl, _FunctionData, _Action, _Container)
_FIELD_NAMES = frozenset(name for model in _MODELS for name in model.model_fields)


def shape_problem(body: dict[str, Any]) -> str | None:
    """Why the fields Bolt and the listeners read in ``body`` (parsed) have the wrong
    type or are missing, naming the field and never its value; None when they are
    right. Socket Mode's envelopes carry the same payloads (bot/serve/socket_mode.py)."""
    kind = body.get("type")
    models: list[type[_Shape]] = [_Body]
    if "command" in body:
        models = [_Command]  # Bolt takes any body with a command for a slash command
    if isinstance(kind, str) and kind in _KINDS:
        models.append(_KINDS[kind])
    for model in models:
        try:
            model.model_validate(body)
        except ValidationError as e:
            return _describe(e)
        except RecursionError:
            return "nested too deep"
    return None


def _describe(error: ValidationError) -> str:
    first = error.errors(include_url=False, include_input=False, include_context=False)[0]
    path = ".".join(f"[{part}]" if isinstance(part, int) else part for part in first["loc"]
                    if isinstance(part, int) or part in _FIELD_NAMES)
    detail = (first["msg"].removeprefix("Value error, ") if first["type"] == "value_error"
              else first["type"])
    return f"{path or 'body'}: {detail}".replace(".[", "[")


def event_id(body: dict[str, Any]) -> str | None:
    """The ``event_id`` of an Events API event (checked by :func:`shape_problem`), else
    None."""
    if body.get("type") != "event_callback":
        return None
    found = body.get("event_id")
    return found if isinstance(found, str) else None


def already_let_through(first_time: Callable[[str], bool] | None, event: str) -> bool:
    """Whether ``event`` was let through before (by any process ``first_time`` asks);
    recorded now if not. When that cannot be told (the database is away) it is let
    through: handled twice at worst, never lost."""
    if first_time is None:
        return False
    try:
        return not first_time(event)
    except Exception as e:
        log.warning("could not tell whether Slack event %s is a retry (%s); handling it",
                    event, type(e).__name__)
        return False


def _content_length(environ: dict[str, Any]) -> int | None:
    raw = environ.get("CONTENT_LENGTH") or ""
    if not raw.isdigit() or len(raw) > 12:
        return None
    return int(raw)


def _read(environ: dict[str, Any], length: int) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    chunks, left = [], length
    while left > 0:
        chunk = stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
