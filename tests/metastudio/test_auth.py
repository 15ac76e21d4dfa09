"""Auth objects on prepared requests (no network): what they add, and what they hide."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import requests

from bot.metastudio import signing
from bot.metastudio.auth import AkSkAuth, IamPasswordAuth, TokenAuth

NOW = datetime(2024, 7, 4, 10, 15, tzinfo=UTC)


def prepared(auth, params=None) -> requests.PreparedRequest:
    request = requests.Request(
        "GET",
        "https://metastudio.example:8443/v1/proj%201/digital-human-videos",
        params=params or [],
        auth=auth,
    )
    return requests.Session().prepare_request(request)


def test_aksk_adds_date_host_project_and_a_verifiable_signature():
    params = [("limit", "100"), ("asset_name", "a b+c/~ü"), ("job_ids", "z"), ("job_ids", "a")]
    auth = AkSkAuth("AK-TEST", "SK-TEST", "proj 1", app_user_id="u-1", clock=lambda: NOW)

    request = prepared(auth, params)

    headers = request.headers
    assert headers["X-Sdk-Date"] == "20240704T101500Z"
    assert headers["Host"] == "metastudio.example:8443"
    assert headers["X-Project-Id"] == "proj 1"
    assert headers["X-App-UserId"] == "u-1"
    url = urlsplit(request.url)
    pairs = parse_qsl(url.query, keep_blank_values=True)
    assert sorted(pairs) == sorted(params)
    assert signing.verify("SK-TEST", "GET", url.path, pairs, dict(headers))
    assert not signing.verify("SK-OTHER", "GET", url.path, pairs, dict(headers))


def test_aksk_sends_the_query_in_canonical_order():
    auth = AkSkAuth("AK-TEST", "SK-TEST", clock=lambda: NOW)

    request = prepared(auth, [("offset", "0"), ("limit", "10"), ("job_ids", "b"), ("job_ids", "a")])

    assert urlsplit(request.url).query == "job_ids=a&job_ids=b&limit=10&offset=0"


def test_aksk_leaves_session_transport_headers_unsigned():
    request = prepared(AkSkAuth("AK-TEST", "SK-TEST", clock=lambda: NOW))

    signed_headers = signing.parse_authorization(request.headers["Authorization"])[1]
    assert signed_headers == ["host", "user-agent", "x-sdk-date"]


def test_token_auth_sets_x_auth_token():
    request = prepared(TokenAuth("TOKEN-TEST", app_user_id="u-1"))

    assert request.headers["X-Auth-Token"] == "TOKEN-TEST"
    assert request.headers["X-App-UserId"] == "u-1"


def test_reprs_hide_secrets():
    reprs = " ".join(
        repr(a)
        for a in (
            AkSkAuth("AK-TEST", "SK-SECRET", "proj-1"),
            TokenAuth("TOKEN-SECRET"),
            IamPasswordAuth("https://iam.example", "bob", "PW-SECRET", "acme", "proj-1"),
        )
    )

    assert "AK-TEST" in reprs
    assert "SECRET" not in reprs


def test_token_auth_repr_names_the_class_only():
    assert repr(TokenAuth("TOKEN-SECRET")) == "TokenAuth(token=***)"


def test_aksk_keeps_and_signs_blank_query_values():
    request = prepared(AkSkAuth("AK-TEST", "SK-TEST", clock=lambda: NOW),
                       [("asset_name", ""), ("limit", "1")])

    url = urlsplit(request.url)
    assert url.query == "asset_name=&limit=1"
    pairs = parse_qsl(url.query, keep_blank_values=True)
    assert signing.verify("SK-TEST", "GET", url.path, pairs, dict(request.headers))


def test_aksk_signs_a_request_body():
    request = requests.Session().prepare_request(requests.Request(
        "POST", "https://metastudio.example/v1/p/2d-digital-human-videos/j1/cancel",
        data=b'{"reason":"test"}', auth=AkSkAuth("AK-TEST", "SK-TEST", clock=lambda: NOW)))

    path = urlsplit(request.url).path
    headers = dict(request.headers)
    assert signing.verify("SK-TEST", "POST", path, [], headers, b'{"reason":"test"}')
    assert not signing.verify("SK-TEST", "POST", path, [], headers, b"")
