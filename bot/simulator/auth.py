"""Request authentication as MetaStudio's gateway does it: a token (fixed, or issued by
the simulated IAM), or an AK/SK signature (with a temporary AK/SK, its signed
``X-Security-Token`` too), verified with the client's own signing
functions (``bot.metastudio.signing``, checked byte for byte against Huawei's official
signer, and here again in tests/simulator against that signer's requests)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..metastudio import signing

#: docs/metastudio-api.md, "Signing": the gateway rejects an X-Sdk-Date about 15 minutes off.
MAX_SKEW = timedelta(minutes=15)
#: The gateway's code and wording for a refused AK/SK signature (docs/metastudio-api.md, "Errors").
GATEWAY_CODE = "APIGW.0301"
INCORRECT = "Incorrect IAM authentication information"
#: The gateway's answer to an expired token (Huawei's API Gateway error codes: APIG.0307
#: "The token must be updated"), here for a temporary AK/SK's expired security token.
EXPIRED_CODE = "APIGW.0307"
EXPIRED = "The token must be updated."

Refusal = tuple[int, dict[str, str]]


def _refuse(code: str, msg: str) -> Refusal:
    return 401, {"error_code": code, "error_msg": msg}


@dataclass
class Gatekeeper:
    """Decides whether a request may pass. A credential left None is not accepted; with
    no AK, token or IAM user at all, everything passes (the demo)."""

    ak: str | None
    sk: str | None
    token: str | None
    clock: Callable[[], datetime]
    project_id: str
    #: (user, domain) -> password, for POST /v3/auth/tokens.
    iam_users: dict[tuple[str, str], str] = field(default_factory=dict)
    #: docs/metastudio-api.md, "Authentication": an IAM token is valid for 24 hours.
    iam_token_ttl: timedelta = timedelta(hours=24)
    #: Login attempts, refused ones included.
    iam_logins: int = 0
    #: Set: ``ak``/``sk`` are a temporary pair, valid only with this ``X-Security-Token``,
    #: signed with the rest of the request, until ``security_token_expires``.
    security_token: str | None = None
    security_token_expires: datetime | None = None
    _issued: dict[str, datetime] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def open(self) -> bool:
        return not (self.ak or self.token or self.iam_users)

    def check(
        self, method: str, path: str, query: list[tuple[str, str]], headers: Mapping[str, str],
        body: bytes = b"",
    ) -> Refusal | None:
        """None when the request may pass, else (401, error body). A signature covers
        ``body`` (its SHA-256 is part of the canonical request)."""
        if self.open:
            return None
        token = headers.get("X-Auth-Token")
        if token is not None:
            if self._token_valid(token):
                return None
            return _refuse("MSS.00000001", "Unauthorized: the token is invalid or expired")
        authorization = headers.get("Authorization")
        if authorization is None:
            return _refuse("MSS.00000001", "Unauthorized: no X-Auth-Token or Authorization")
        return self._check_signature(method, path, query, headers, authorization, body)

    def _check_signature(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: Mapping[str, str],
        authorization: str,
        body: bytes = b"",
    ) -> Refusal | None:
        parsed = signing.parse_authorization(authorization)
        if parsed is None or self.ak is None or self.sk is None or parsed[0] != self.ak:
            return _refuse(GATEWAY_CODE, f"{INCORRECT}: unknown access key or algorithm")
        try:
            sent = signing.parse_sdk_date(headers.get(signing.DATE_HEADER, ""))
        except ValueError:
            return _refuse(GATEWAY_CODE, f"{INCORRECT}: X-Sdk-Date missing or malformed")
        if abs(self.clock() - sent) > MAX_SKEW:
            return _refuse(
                GATEWAY_CODE,
                f"{INCORRECT}: request expired, X-Sdk-Date is more than 15 minutes "
                "from the server time",
            )
        if not signing.verify(self.sk, method, path, query, headers, body):
            return _refuse(GATEWAY_CODE, f"{INCORRECT}: verify aksk signature fail")
        return self._check_security_token(headers, signed=parsed[1])

    def _check_security_token(self, headers: Mapping[str, str],
                              signed: list[str]) -> Refusal | None:
        """A temporary AK/SK needs its security token, signed (else any token could be
        swapped in under a good signature), matching, and not expired; a permanent
        AK/SK takes none."""
        sent = _header(headers, signing.SECURITY_TOKEN_HEADER)
        if self.security_token is None:
            if sent is None:
                return None
            return _refuse(GATEWAY_CODE, f"{INCORRECT}: X-Security-Token with a permanent "
                                         "access key")
        if sent is None:
            return _refuse(GATEWAY_CODE, f"{INCORRECT}: a temporary access key needs "
                                         "X-Security-Token")
        if signing.SECURITY_TOKEN_HEADER.lower() not in signed:
            return _refuse(GATEWAY_CODE, f"{INCORRECT}: X-Security-Token is not signed")
        if not secrets.compare_digest(sent, self.security_token):
            return _refuse(GATEWAY_CODE, f"{INCORRECT}: invalid security token")
        if self.security_token_expires is not None and self.clock() >= self.security_token_expires:
            return _refuse(EXPIRED_CODE, EXPIRED)
        return None

    def login(self, body: Any) -> tuple[str, datetime] | None:
        """The password method of POST /v3/auth/tokens: (token, expiry), or None when
        the user, password, domain or project scope is wrong."""
        try:
            user = body["auth"]["identity"]["password"]["user"]
            key = (user["name"], user["domain"]["name"])
            password = user["password"]
            project = body["auth"]["scope"]["project"]["id"]
        except (KeyError, TypeError):
            return None
        with self._lock:
            self.iam_logins += 1
            stored = self.iam_users.get(key)
            if stored is None or not secrets.compare_digest(stored, password):
                return None
            if project != self.project_id:
                return None
            token = "MIIsim" + secrets.token_urlsafe(24)
            expires = self.clock() + self.iam_token_ttl
            self._issued[token] = expires
        return token, expires

    def _token_valid(self, token: str) -> bool:
        if self.token is not None and secrets.compare_digest(token, self.token):
            return True
        with self._lock:
            expires = self._issued.get(token)
        return expires is not None and self.clock() < expires


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value whatever the case of its name (a plain dict, or the server's)."""
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None
