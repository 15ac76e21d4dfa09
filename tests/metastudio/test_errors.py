"""The exception tree: class by HTTP status, what str() shows, and the error fields of
both body shapes (MetaStudio/gateway and IAM)."""

from __future__ import annotations

import json

import pytest
import requests

from bot.metastudio.errors import (
    AuthError,
    BadRequestError,
    BadResponseError,
    MetaStudioError,
    NotFoundError,
    ThrottledError,
    UnavailableError,
    error_fields,
    error_for_status,
)


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, BadRequestError), (401, AuthError), (402, BadRequestError), (403, AuthError),
     (404, NotFoundError), (428, BadRequestError), (429, ThrottledError),
     (430, BadRequestError), (499, BadRequestError), (500, UnavailableError),
     (503, UnavailableError), (302, BadResponseError)],
)
def test_class_by_status(status, kind):
    assert error_for_status(status) is kind


def test_str_shows_what_is_known_and_nothing_else():
    assert str(MetaStudioError("boom")) == "boom"
    assert str(MetaStudioError("boom", status=500)) == "boom (HTTP 500)"
    full = MetaStudioError("boom", status=404, error_code="MSS.00000002",
                           error_msg="Not Found", request_id="r1")
    assert str(full) == "boom (HTTP 404 · MSS.00000002 Not Found · request id r1)"


def test_the_message_is_the_exceptions_argument():
    assert MetaStudioError("boom").args == ("boom",)
    throttled = ThrottledError("slow down", retry_after=2.0, status=429)
    assert throttled.args == ("slow down",) and throttled.retry_after == 2.0
    assert throttled.status == 429


def answer(body: object) -> requests.Response:
    response = requests.Response()
    response.status_code = 400
    response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return response


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"error_code": "MSS.00000003", "error_msg": "Invalid parameter"},
         ("MSS.00000003", "Invalid parameter")),
        ({"error": {"code": 401, "message": "The password is wrong."}},
         ("401", "The password is wrong.")),
        ({"error_msg": "only a message"}, (None, "only a message")),
        ({"error_code": "APIGW.0308"}, ("APIGW.0308", None)),
        ({"error": {"message": "only a message"}}, (None, "only a message")),
        ({"error": {"code": "IAM.1"}}, ("IAM.1", None)),
        (["not", "an", "object"], (None, None)),
        (b"<html>Bad Gateway</html>", (None, None)),
    ],
)
def test_error_fields(body, fields):
    assert error_fields(answer(body)) == fields
