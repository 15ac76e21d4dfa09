"""SDK-HMAC-SHA256 request signing (docs/metastudio-api.md, "Signing"), as pure functions.

The same functions sign requests (``bot.metastudio.auth.AkSkAuth``) and verify them (the
simulator), so both sides agree by construction; ``tests/metastudio/test_signing.py``
checks them byte for byte against the official ``huaweicloudsdkcore`` signer.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from urllib.parse import quote, unquote

ALGORITHM = "SDK-HMAC-SHA256"
DATE_HEADER = "X-Sdk-Date"
#: A temporary AK/SK's security token. Huawei's SDK adds it before signing, so like any
#: header without ``_`` in its name it is signed (``huaweicloudsdkcore``'s
#: ``Credentials.sign_request``); a gateway can then trust it came with the signature.
SECURITY_TOKEN_HEADER = "X-Security-Token"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_EMPTY_BODY_HASH = hashlib.sha256(b"").hexdigest()


def sdk_date(now: datetime) -> str:
    """``YYYYMMDDTHHMMSSZ`` in UTC, the X-Sdk-Date format."""
    return now.astimezone(UTC).strftime(DATE_FORMAT)


def parse_sdk_date(value: str) -> datetime:
    """The inverse of :func:`sdk_date`; raises ValueError on another format."""
    return datetime.strptime(value, DATE_FORMAT).replace(tzinfo=UTC)


def encode(text: str) -> str:
    """Percent-encode everything but RFC 3986 unreserved characters (``~`` included)."""
    return quote(text, safe="~")


def canonical_uri(path: str) -> str:
    """Each segment of the (possibly already percent-encoded) path re-encoded, ending in
    ``/``: the signer decodes first, so a raw and an encoded path sign the same."""
    uri = "/".join(encode(segment) for segment in unquote(path).split("/"))
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Pairs sorted by name then value (raw, as the official signer does), then encoded;
    a repeated name (``job_ids=a&job_ids=b``) is one pair per value."""
    return "&".join(f"{encode(k)}={encode(v)}" for k, v in sorted(pairs))


def signed_header_names(headers: Mapping[str, str]) -> list[str]:
    """Every header whose name has no ``_``, lower-cased and sorted."""
    return sorted({name.lower() for name in headers if "_" not in name})


def canonical_headers(headers: Mapping[str, str], names: Iterable[str]) -> str:
    """``name:trimmed value`` lines for ``names``, each ending in a newline."""
    lowered = {name.lower(): str(value).strip() for name, value in headers.items()}
    return "".join(f"{name}:{lowered.get(name, '')}\n" for name in names)


def payload_hash(body: bytes | str | None) -> str:
    """Hex SHA-256 of the body; of the empty string for a GET."""
    if not body:
        return _EMPTY_BODY_HASH
    return hashlib.sha256(body.encode() if isinstance(body, str) else body).hexdigest()


def canonical_request(
    method: str,
    path: str,
    query_pairs: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes | str | None = b"",
    signed_headers: list[str] | None = None,
) -> str:
    """The six lines that get hashed. ``signed_headers`` defaults to every signable header
    (signing); a verifier passes the list from the Authorization header instead."""
    names = signed_header_names(headers) if signed_headers is None else signed_headers
    return "\n".join(
        (
            method.upper(),
            canonical_uri(path),
            canonical_query(query_pairs),
            canonical_headers(headers, names),
            ";".join(names),
            payload_hash(body),
        )
    )


def string_to_sign(canonical: str, date: str) -> str:
    """``SDK-HMAC-SHA256``, the X-Sdk-Date value and the hex SHA-256 of the request."""
    return f"{ALGORITHM}\n{date}\n{hashlib.sha256(canonical.encode()).hexdigest()}"


def signature(sk: str, to_sign: str) -> str:
    """Hex HMAC-SHA256 of ``to_sign`` keyed with the secret key."""
    return hmac.new(sk.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


def authorization(ak: str, signed_headers: list[str], sig: str) -> str:
    return f"{ALGORITHM} Access={ak}, SignedHeaders={';'.join(signed_headers)}, Signature={sig}"


def sign_headers(
    ak: str,
    sk: str,
    method: str,
    path: str,
    query_pairs: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes | str | None = b"",
    *,
    now: datetime | None = None,
) -> dict[str, str]:
    """``headers`` plus ``X-Sdk-Date`` (unless present) and ``Authorization``.

    ``headers`` must already hold ``Host``: it is signed, and only the caller knows it.
    """
    signed = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    date = _header(signed, DATE_HEADER)
    if date is None:
        date = sdk_date(now or datetime.now(UTC))
        signed[DATE_HEADER] = date
    if _header(signed, "Host") is None:
        raise ValueError("the Host header must be set before signing")
    names = signed_header_names(signed)
    canonical = canonical_request(method, path, query_pairs, signed, body, names)
    sig = signature(sk, string_to_sign(canonical, date))
    signed["Authorization"] = authorization(ak, names, sig)
    return signed


def parse_authorization(value: str) -> tuple[str, list[str], str] | None:
    """``(access key, signed header names, signature)``, or None if not SDK-HMAC-SHA256."""
    algorithm, _, rest = value.partition(" ")
    if algorithm != ALGORITHM:
        return None
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
    try:
        return fields["Access"], fields["SignedHeaders"].split(";"), fields["Signature"]
    except KeyError:
        return None


def verify(
    sk: str,
    method: str,
    path: str,
    query_pairs: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes | str | None = b"",
) -> bool:
    """True when ``headers``' Authorization is a valid signature of the request with ``sk``
    (server side; the access key is the caller's to check)."""
    parsed = parse_authorization(_header(headers, "Authorization") or "")
    date = _header(headers, DATE_HEADER)
    if parsed is None or date is None:
        return False
    _, names, sig = parsed
    canonical = canonical_request(method, path, query_pairs, headers, body, names)
    return hmac.compare_digest(sig, signature(sk, string_to_sign(canonical, date)))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None
