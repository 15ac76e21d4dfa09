"""Our SDK-HMAC-SHA256 signer against the official one (huaweicloudsdkcore), byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

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
