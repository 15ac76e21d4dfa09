"""Auth objects on prepared requests (no network): what they add, and what they hide."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest

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


# -- a temporary AK/SK and its security token ------------------------------------------

SECURITY_TOKEN = "gQpjbi1ub3J0aC00temporary-security-token-value"


def test_a_temporary_aksk_sends_its_security_token_signed_as_huaweis_sdk_does():
    """Byte for byte against huaweicloudsdkcore's BasicCredentials with a security
    token: the SDK adds X-Security-Token (and X-Project-Id) before it signs."""
    auth = AkSkAuth("AK-TEMP", "SK-TEMP", "proj-1", security_token=SECURITY_TOKEN,
                    clock=lambda: NOW)
    request = requests.Session().prepare_request(requests.Request(
        "GET", "https://metastudio.example/v1/proj-1/digital-human-videos",
        params=[("limit", "10"), ("state", "FAILED")], auth=auth))

    url = urlsplit(request.url)
    official = SdkRequest(
        method="GET", schema="https", host=url.netloc, resource_path=url.path,
        query_params=[("limit", "10"), ("state", "FAILED")],
        header_params={"User-Agent": request.headers["User-Agent"],
                       "X-Sdk-Date": "20240704T101500Z"},
        body="")
    BasicCredentials("AK-TEMP", "SK-TEMP", "proj-1").with_security_token(
        SECURITY_TOKEN).sign_request(official)

    assert request.headers["X-Security-Token"] == SECURITY_TOKEN
    assert official.header_params["X-Security-Token"] == SECURITY_TOKEN
    assert request.headers["Authorization"].encode() == official.header_params[
        "Authorization"].encode()
    signed = signing.parse_authorization(request.headers["Authorization"])[1]
    assert signed == ["host", "user-agent", "x-project-id", "x-sdk-date", "x-security-token"]


def test_a_permanent_aksk_sends_no_security_token():
    request = prepared(AkSkAuth("AK-TEST", "SK-TEST", clock=lambda: NOW))

    assert "X-Security-Token" not in request.headers


def test_the_security_token_stays_out_of_the_repr_and_a_refusal_names_what_to_refresh():
    auth = AkSkAuth("AK-TEMP", "SK-TEMP", "proj-1", security_token=SECURITY_TOKEN)

    assert SECURITY_TOKEN not in repr(auth) and "security_token=***" in repr(auth)
    assert auth.temporary and not AkSkAuth("AK", "SK").temporary
    assert auth.credentials.startswith("METASTUDIO_SECURITY_TOKEN (temporary credentials "
                                       "expire: refresh it together with METASTUDIO_AK")
    assert AkSkAuth("AK", "SK").credentials == "METASTUDIO_AK / METASTUDIO_SK"
