"""Authentication for MetaStudio requests, as ``requests.auth.AuthBase`` objects.

Three ways (docs/metastudio-api.md, "Authentication"): AK/SK signing (:class:`AkSkAuth`, also
with a temporary AK/SK and its security token), a fixed
IAM token (:class:`TokenAuth`), or an IAM token fetched with a user's password and renewed
before it expires (:class:`IamPasswordAuth`). Secrets never appear in a ``repr`` or in
an exception message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase

from . import signing
from .errors import AuthError, BadResponseError, UnavailableError, error_fields, error_for_status

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# requests adds these per session, after the official SDK would have signed; Connection
# is hop-by-hop and proxies rewrite it. Like the SDK, leave them out of the signature.
_UNSIGNED_HEADERS = frozenset({"accept", "accept-encoding", "connection", "content-length"})


def utc_now() -> datetime:
    return datetime.now(UTC)


def _app_user(request: requests.PreparedRequest, app_user_id: str | None) -> None:
    if app_user_id:
        request.headers["X-App-UserId"] = app_user_id


class AkSkAuth(AuthBase):
    """Sign each request with SDK-HMAC-SHA256.

    Adds ``X-Sdk-Date`` (from ``clock``), ``Host``, ``X-Project-Id`` (when given),
    ``X-App-UserId`` (when given), ``X-Security-Token`` (with a temporary AK/SK's
    ``security_token``, signed like the rest, as Huawei's SDK does) and
    ``Authorization``. The query string is rewritten in its canonical form, as the
    official SDK sends it, so the server sees exactly what was signed.
    """

    #: The settings to check when MetaStudio refuses the signature.
    credentials = "METASTUDIO_AK / METASTUDIO_SK"
    #: ...and with a temporary AK/SK, whose refusal is most likely its expiry (MetaStudio's
    #: gateway answers 401 ``APIGW.0307`` "The token must be updated", or ``APIGW.0301``
    #: "...signature expired"): all three come from one grant and are renewed together.
    TEMPORARY_CREDENTIALS = (
        "METASTUDIO_SECURITY_TOKEN (temporary credentials expire: refresh it together with "
        "METASTUDIO_AK / METASTUDIO_SK, from the same grant)")

    def __init__(
        self,
        ak: str,
        sk: str,
        project_id: str | None = None,
        *,
        security_token: str | None = None,
        app_user_id: str | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.ak = ak
        self._sk = sk
        self._security_token = security_token or None
        self.project_id = project_id
        self.app_user_id = app_user_id
        #: The local clock that dates signatures; compared with the server's on a 401.
        self.clock = clock
        if self._security_token:
            self.credentials = self.TEMPORARY_CREDENTIALS

    @property
    def temporary(self) -> bool:
        """True for a temporary AK/SK (one with a security token)."""
        return self._security_token is not None

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        assert request.url is not None  # requests prepares the URL before the auth
        url = urlsplit(request.url)
        pairs = parse_qsl(url.query, keep_blank_values=True)
        request.url = urlunsplit(url._replace(query=signing.canonical_query(pairs)))
        request.headers["Host"] = url.netloc
        if self.project_id:
            request.headers["X-Project-Id"] = self.project_id
        _app_user(request, self.app_user_id)
        if self._security_token:
            request.headers[signing.SECURITY_TOKEN_HEADER] = self._security_token
        request.headers.pop("Authorization", None)
        signable = {
            k: v for k, v in request.headers.items() if k.lower() not in _UNSIGNED_HEADERS
        }
        signed = signing.sign_headers(
            self.ak, self._sk, request.method or "GET", url.path, pairs, signable,
            request.body, now=self.clock(),
        )
        request.headers.update(signed)
        return request

    def __repr__(self) -> str:
        token = ", security_token=***" if self._security_token else ""
        return f"AkSkAuth(ak={self.ak!r}, project_id={self.project_id!r}{token})"


class TokenAuth(AuthBase):
    """A fixed IAM token in ``X-Auth-Token`` (METASTUDIO_AUTH_TOKEN; tokens last 24 h)."""

    credentials = "METASTUDIO_AUTH_TOKEN (IAM tokens expire after 24 h)"

    def __init__(self, token: str, *, app_user_id: str | None = None) -> None:
        self._token = token
        self.app_user_id = app_user_id

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["X-Auth-Token"] = self._token
        _app_user(request, self.app_user_id)
        return request

    def __repr__(self) -> str:
        return "TokenAuth(token=***)"


class IamPasswordAuth(AuthBase):
    """Log in to IAM (``POST /v3/auth/tokens``, password method, project scope) and send
    the token in ``X-Auth-Token``, renewing it before it expires.

    One login at a time: concurrent requests that need a token wait for the login in
    flight and reuse its token. A token is renewed once less than a tenth of its lifetime
    (at most an hour) is left, so a request never leaves with a token about to expire.
    """

    credentials = "METASTUDIO_IAM_USER / METASTUDIO_IAM_DOMAIN and the project's permissions"
    #: Renew when less than this share of the token's lifetime is left...
    RENEW_FRACTION = 0.1
    #: ...or at most this long before expiry (IAM tokens last 24 h).
    RENEW_MAX = timedelta(hours=1)

    def __init__(
        self,
        iam_endpoint: str,
        user: str,
        password: str,
        domain: str,
        project_id: str,
        *,
        session: requests.Session | None = None,
        clock: Clock = utc_now,
        timeout: float | tuple[float, float] = (3.05, 10.0),
        app_user_id: str | None = None,
    ) -> None:
        self.url = iam_endpoint.rstrip("/") + "/v3/auth/tokens"
        self.user = user
        self._password = password
        self.domain = domain
        self.project_id = project_id
        self.app_user_id = app_user_id
        self._session = session or requests.Session()
        self._clock = clock
        self._timeout = timeout
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at: datetime | None = None
        #: Logins made so far (for logs and tests).
        self.logins = 0

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self.token()
        request.headers["X-Auth-Token"] = token
        _app_user(request, self.app_user_id)
        request.register_hook(  # type: ignore[no-untyped-call]  # untyped in types-requests
            "response", self._forget_refused(token))
        return request

    def token(self) -> str:
        """A valid token, logging in first when there is none or it is due for renewal."""
        with self._lock:
            if self._token is None or self._renew_at is None or self._clock() >= self._renew_at:
                self._login()
            assert self._token is not None
            return self._token

    def _forget_refused(self, token: str) -> Callable[..., Any]:
        # A token MetaStudio refuses (revoked, password changed) is dropped so the next
        # request logs in again; the refused request itself is not retried.
        def hook(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
            if response.status_code == 401:
                with self._lock:
                    if self._token == token:
                        self._token = None
            return response

        return hook

    def _login(self) -> None:
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": self.user,
                            "password": self._password,
                            "domain": {"name": self.domain},
                        }
                    },
                },
                "scope": {"project": {"id": self.project_id}},
            }
        }
        try:
            response = self._session.post(self.url, json=body, timeout=self._timeout)
        except requests.RequestException as e:
            raise UnavailableError(f"cannot reach IAM at {self.url}") from e
        request_id = response.headers.get("X-Request-Id")
        if response.status_code in (400, 401, 403):
            code, msg = error_fields(response)
            raise AuthError(
                "IAM refused the login: check METASTUDIO_IAM_USER, METASTUDIO_IAM_PASSWORD "
                "and METASTUDIO_IAM_DOMAIN",
                status=response.status_code, error_code=code, error_msg=msg,
                request_id=request_id,
            )
        if not response.ok:
            code, msg = error_fields(response)
            raise error_for_status(response.status_code)(
                "IAM login failed", status=response.status_code, error_code=code,
                error_msg=msg, request_id=request_id,
            )
        token = response.headers.get("X-Subject-Token")
        if not token:
            raise BadResponseError(
                "IAM answered without an X-Subject-Token header: check METASTUDIO_IAM_ENDPOINT",
                status=response.status_code, request_id=request_id,
            )
        now = self._clock()
        expires = _expires_at(response) or now + timedelta(hours=24)
        self._token = token
        self._renew_at = expires - min(self.RENEW_MAX, (expires - now) * self.RENEW_FRACTION)
        self.logins += 1
        log.info("IAM login as %s@%s; token expires %s", self.user, self.domain, expires)

    def __repr__(self) -> str:
        return (
            f"IamPasswordAuth(url={self.url!r}, user={self.user!r}, domain={self.domain!r}, "
            f"project_id={self.project_id!r})"
        )


def _expires_at(response: requests.Response) -> datetime | None:
    """``token.expires_at`` of the login answer (``2024-07-05T10:15:00.000000Z``)."""
    try:
        value = response.json()["token"]["expires_at"]
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("IAM answer has no readable token.expires_at; assuming 24 h")
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


