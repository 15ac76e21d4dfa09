"""Our SDK-HMAC-SHA256 signer against the official one (huaweicloudsdkcore), byte for byte."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from bot.metastudio import signing

AK, SK = "AK-TEST", "SK-TEST/with+odd=chars"
DATE = "20240704T101500Z"
HOST = "metastudio.cn-north-4.myhuaweicloud.com"
PATH = "/v1/0d697589d98091f12f92c0073501cd79/digital-human-videos"

CASES = {
    "empty query": (PATH, [], {}),
    "plain paging": (PATH, [("offset", "0"), ("limit", "100")], {}),
    "space tilde plus slash": (
        PATH,
        [("asset_name", "My Video ~ v1+2/final"), ("script_id", "a b")],
        {},
    ),
    "unicode": (PATH, [("asset_name", "视频 Ünïcode ✓")], {}),
    "reserved characters": (PATH, [("asset_name", "a&b=c?d#e%f;g,h'i*j(k)!")], {}),
    "repeated list params": (
        PATH,
        [("job_ids", "zeta"), ("job_ids", "alpha"), ("job_ids", "mid_1"), ("limit", "100")],
        {},
    ),
    "comma list": (PATH, [("state", "FAILED,SUCCEED")], {}),
    "extra headers, one with underscore": (
        PATH,
        [("limit", "10")],
        {
            "X-Project-Id": "0d697589d98091f12f92c0073501cd79",
            "X-App-UserId": "  user-42  ",
            "Content-Type": "application/json",
            "X_Not_Signed": "ignored",
            "User-Agent": "videojobs/1.0",
        },
    ),
    "path with special characters": ("/v1/proj%20one~x%2Fy/digital-human-videos", [], {}),
    "raw path with space": ("/v1/proj one/digital-human-videos", [("a", "")], {}),
}


def official(path: str, pairs: list[tuple[str, str]], headers: dict[str, str]) -> dict[str, str]:
    request = SdkRequest(
        method="GET",
        schema="https",
        host=HOST,
        resource_path=path,
        query_params=list(pairs),
        header_params={**headers, "X-Sdk-Date": DATE},
        body="",
    )
    Signer(SimpleNamespace(ak=AK, sk=SK)).sign(request)
    return request.header_params


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_authorization_matches_official_signer(case):
    path, pairs, headers = case
    expected = official(path, pairs, headers)["Authorization"]

    ours = signing.sign_headers(
        AK, SK, "GET", path, pairs, {**headers, "Host": HOST, "X-Sdk-Date": DATE}
    )

    assert ours["Authorization"].encode() == expected.encode()


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_signed_request_verifies_and_tampering_does_not(case):
    path, pairs, headers = case
    signed = signing.sign_headers(AK, SK, "GET", path, pairs, {**headers, "Host": HOST})

    assert signing.verify(SK, "GET", path, pairs, signed)
    assert not signing.verify("wrong", "GET", path, pairs, signed)
    assert not signing.verify(SK, "GET", path, [*pairs, ("offset", "1")], signed)


def test_date_header_is_added_from_the_given_time():
    now = datetime(2024, 7, 4, 10, 15, tzinfo=UTC)

    signed = signing.sign_headers(AK, SK, "GET", PATH, [], {"Host": HOST}, now=now)

    assert signed["X-Sdk-Date"] == DATE
    assert signed["Authorization"] == official(PATH, [], {})["Authorization"]


def test_underscore_headers_are_not_signed():
    signed = signing.sign_headers(AK, SK, "GET", PATH, [], {"Host": HOST, "X_Foo": "1"})

    assert "SignedHeaders=host;x-sdk-date," in signed["Authorization"]


def test_host_is_required():
    with pytest.raises(ValueError, match="Host"):
        signing.sign_headers(AK, SK, "GET", PATH, [], {})


def test_parse_authorization_rejects_other_schemes():
    assert signing.parse_authorization("Bearer abc") is None
    assert signing.parse_authorization("SDK-HMAC-SHA256 Access=a") is None


# -- the pieces, each pinned (mutation testing found these unguarded) ----------------------


def test_sdk_date_is_utc_whatever_zone_the_time_is_given_in():
    shanghai = datetime(2024, 7, 4, 18, 15, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert signing.sdk_date(shanghai) == DATE


def test_sdk_date_is_utc_on_a_machine_in_another_zone(monkeypatch):
    # The process's local zone is not UTC here, so converting to "local" would show.
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        shanghai = datetime(2024, 7, 4, 18, 15, tzinfo=ZoneInfo("Asia/Shanghai"))
        assert signing.sdk_date(shanghai) == DATE
    finally:
        monkeypatch.undo()
        time.tzset()


def test_canonical_uri_appends_one_slash_only():
    assert signing.canonical_uri("/v1/p/x") == "/v1/p/x/"
    assert signing.canonical_uri("/v1/p/x/") == "/v1/p/x/"
    assert signing.canonical_uri("/v1/a b/x") == "/v1/a%20b/x/"


def test_encode_keeps_only_unreserved_characters():
    assert signing.encode("a-b_c.d~e") == "a-b_c.d~e"
    assert signing.encode("a/b c,d=e") == "a%2Fb%20c%2Cd%3De"


def test_a_signed_name_missing_from_the_headers_is_an_empty_line():
    lines = signing.canonical_headers({"Host": " h ", "X-A": "1"}, ["host", "x-b"])
    assert lines == "host:h\nx-b:\n"


def test_payload_hash_of_text_bytes_and_nothing():
    assert signing.payload_hash("abc") == hashlib.sha256(b"abc").hexdigest()
    assert signing.payload_hash(b"\x00\x01") == hashlib.sha256(b"\x00\x01").hexdigest()
    assert signing.payload_hash(None) == signing.payload_hash(b"") == hashlib.sha256(
        b"").hexdigest()


def test_canonical_request_lines():
    headers = {"Host": HOST, "X-Sdk-Date": DATE, "X_Skip": "1"}
    assert signing.canonical_request("get", "/v1/x", [("b", "2"), ("a", "1")], headers) == (
        "GET\n/v1/x/\na=1&b=2\n"
        f"host:{HOST}\nx-sdk-date:{DATE}\n\nhost;x-sdk-date\n"
        + hashlib.sha256(b"").hexdigest()
    )
    # A verifier passes the names from the Authorization header; a body is hashed.
    assert signing.canonical_request("POST", "/v1/x", [], headers, '{"a":1}', ["host"]) == (
        f"POST\n/v1/x/\n\nhost:{HOST}\n\nhost\n" + hashlib.sha256(b'{"a":1}').hexdigest()
    )


def test_an_old_authorization_header_is_replaced_not_signed():
    headers = {"Host": HOST, "X-Sdk-Date": DATE}
    fresh = signing.sign_headers(AK, SK, "GET", PATH, [], headers)
    for name in ("Authorization", "authorization", "AUTHORIZATION"):
        again = signing.sign_headers(AK, SK, "GET", PATH, [], {**headers, name: "stale"})
        assert again["Authorization"] == fresh["Authorization"]
        assert name == "Authorization" or name not in again


def test_a_body_is_part_of_the_signature():
    headers = {"Host": HOST, "X-Sdk-Date": DATE}
    with_body = signing.sign_headers(AK, SK, "POST", PATH, [], headers, b'{"a":1}')
    without = signing.sign_headers(AK, SK, "POST", PATH, [], headers)
    assert with_body["Authorization"] != without["Authorization"]
    assert signing.verify(SK, "POST", PATH, [], with_body, b'{"a":1}')
    assert not signing.verify(SK, "POST", PATH, [], with_body, b'{"a":2}')


def test_host_is_required_with_a_message_saying_so():
    with pytest.raises(ValueError) as raised:
        signing.sign_headers(AK, SK, "GET", PATH, [], {"X-Sdk-Date": DATE})
    assert str(raised.value) == "the Host header must be set before signing"


def test_parse_authorization_fields():
    assert signing.parse_authorization(
        "SDK-HMAC-SHA256 Access=AK=1, SignedHeaders=host;x-sdk-date, Signature=ab12"
    ) == ("AK=1", ["host", "x-sdk-date"], "ab12")


def test_verify_needs_both_the_authorization_and_the_date():
    signed = signing.sign_headers(AK, SK, "GET", PATH, [], {"Host": HOST, "X-Sdk-Date": DATE})
    no_auth = {k: v for k, v in signed.items() if k != "Authorization"}
    no_date = {k: v for k, v in signed.items() if k != "X-Sdk-Date"}
    assert not signing.verify(SK, "GET", PATH, [], no_auth)
    assert not signing.verify(SK, "GET", PATH, [], no_date)
    assert not signing.verify(SK, "GET", PATH, [], {**signed, "Authorization": "Bearer x"})
