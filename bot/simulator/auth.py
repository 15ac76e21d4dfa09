"""Request authentication as MetaStudio's gateway does it: a token, or an AK/SK
signature (verified with the client's own signing functions, which are themselves
checked byte for byte against Huawei's official signer), and IAM password logins."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..metastudio import signing

#: API-NOTES.md: the gateway rejects an X-Sdk-Date about 15 minutes off.
MAX_SKEW = timedelta(minutes=15)
#: The gateway's wording for every authentication failure (error code APIGW.0301).
INCORRECT = "Incorrect IAM authentication information"

Refusal = tuple[int, dict[str, str]]


def _refuse(code: str, msg: str) -> Refusal:
    return 401, {"error_code": code, "error_msg": msg}


@dataclass
class Gatekeeper:
    ak: str | None
    sk: str | None
    token: str | None
    clock: Callable[[], datetime]
    #: (user, domain) -> password, for POST /v3/auth/tokens.
    iam_users: dict[tuple[str, str], str] = field(default_factory=dict)
    iam_token_ttl: timedelta = timedelta(hours=24)
    iam_logins: int = 0
    _issued: dict[str, datetime] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def open(self) -> bool:
        """No credentials configured: the demo accepts anything."""
        return not (self.ak or self.token or self.iam_users)

    def check(
        self, method: str, path: str, query: list[tuple[str, str]], headers: Mapping[str, str]
    ) -> Refusal | None:
        """None when the request may pass, else (status, error body)."""
        if self.open:
            return None
        token = headers.get("X-Auth-Token")
        if token is not None:
            return (
                None
                if self._token_valid(token)
                else _refuse("MSS.00000001", "Unauthorized: the token is invalid or expired")
            )
        authorization = headers.get("Authorization")
        if authorization is None:
            return _refuse("APIGW.0301", f"{INCORRECT}: no credentials")
        parsed = signing.parse_authorization(authorization)
        if parsed is None or self.ak is None or self.sk is None or parsed[0] != self.ak:
            return _refuse("APIGW.0301", f"{INCORRECT}: unknown access key")
        try:
            sent = signing.parse_sdk_date(headers.get("X-Sdk-Date", ""))
        except ValueError:
            return _refuse("APIGW.0301", f"{INCORRECT}: bad X-Sdk-Date")
        if abs(self.clock() - sent) > MAX_SKEW:
            return _refuse(
                "APIGW.0301",
                f"{INCORRECT}: request expired (X-Sdk-Date too far off)",
            )
        if not signing.verify(self.sk, method, path, query, headers):
            return _refuse("APIGW.0301", f"{INCORRECT}: verify aksk signature fail")
        return None

    def login(self, body: Any) -> tuple[str, datetime] | None:
        """The password method of POST /v3/auth/tokens; None when refused."""
        try:
            user = body["auth"]["identity"]["password"]["user"]
            key = (user["name"], user["domain"]["name"])
            password = user["password"]
        except (KeyError, TypeError):
            return None
        with self._lock:
            self.iam_logins += 1
            if self.iam_users.get(key) != password:
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
