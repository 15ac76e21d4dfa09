"""build_jobs_client: the auth the settings name, their timeouts and TTLs, or one line."""

from __future__ import annotations

import pytest

from bot.metastudio.auth import AkSkAuth, IamPasswordAuth, TokenAuth
from bot.settings import Settings, SettingsError
from bot.wiring.metastudio import build_jobs_client

BASE = {"metastudio_region": "cn-north-4", "metastudio_project_id": "proj-1"}


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **{**BASE, **values})


def test_aksk_client_with_settings_timeouts_and_ttls():
    client = build_jobs_client(settings(
        metastudio_ak="AK", metastudio_sk="SK", metastudio_app_user_id="u-1",
        metastudio_read_timeout=4.0, cache_ttl_seconds=5, cache_finished_ttl_seconds=60,
    ))

    transport = client.inner.transport
    assert isinstance(transport.auth, AkSkAuth)
    assert transport.auth.project_id == "proj-1"
    assert transport.auth.app_user_id == "u-1"
    assert transport.base_url == "https://metastudio.cn-north-4.myhuaweicloud.com"
    assert transport.timeouts.read == 4.0
    assert (client.ttl, client.finished_ttl) == (5, 60)


def test_token_client():
    client = build_jobs_client(settings(metastudio_auth_token="TOKEN"))

    assert isinstance(client.inner.transport.auth, TokenAuth)


def test_iam_client_logs_in_at_the_regional_iam_endpoint():
    client = build_jobs_client(settings(
        metastudio_iam_user="bob", metastudio_iam_password="pw", metastudio_iam_domain="acme",
    ))

    auth = client.inner.transport.auth
    assert isinstance(auth, IamPasswordAuth)
    assert auth.url == "https://iam.cn-north-4.myhuaweicloud.com/v3/auth/tokens"


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"metastudio_region": None}, "METASTUDIO_ENDPOINT or METASTUDIO_REGION"),
        ({"metastudio_project_id": None, "metastudio_auth_token": "T"}, "METASTUDIO_PROJECT_ID"),
        ({"metastudio_ak": "AK"}, "METASTUDIO_SK"),
        ({"metastudio_sk": "SK"}, "METASTUDIO_AK"),
        ({"metastudio_iam_user": "bob"}, "METASTUDIO_IAM_PASSWORD"),
        (
            {"metastudio_iam_user": "bob", "metastudio_iam_password": "pw"},
            "METASTUDIO_IAM_DOMAIN",
        ),
        (
            {
                "metastudio_region": None, "metastudio_endpoint": "https://ms.example",
                "metastudio_iam_user": "bob", "metastudio_iam_password": "pw",
                "metastudio_iam_domain": "acme",
            },
            "METASTUDIO_IAM_ENDPOINT",
        ),
        ({}, "METASTUDIO_AK/METASTUDIO_SK"),
        (
            {"metastudio_auth_token": "TOKEN", "metastudio_security_token": "ST"},
            "METASTUDIO_SECURITY_TOKEN",
        ),
    ],
)
def test_impossible_settings_name_the_variable(values, named):
    with pytest.raises(SettingsError) as raised:
        build_jobs_client(settings(**values))

    assert str(raised.value).startswith(named)


@pytest.mark.parametrize("variable", ["METASTUDIO_SECURITY_TOKEN",
                                      "HUAWEICLOUD_SDK_SECURITY_TOKEN"])
def test_a_temporary_aksk_from_the_environment_signs_with_its_security_token(
        monkeypatch: pytest.MonkeyPatch, variable: str):
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", "AK-TEMP")
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", "SK-TEMP")
    monkeypatch.setenv(variable, "security-token-value")

    auth = build_jobs_client(settings()).inner.transport.auth

    assert isinstance(auth, AkSkAuth) and auth.temporary
    assert auth.credentials.startswith("METASTUDIO_SECURITY_TOKEN")


def test_a_permanent_aksk_has_no_security_token():
    auth = build_jobs_client(settings(metastudio_ak="AK", metastudio_sk="SK")).inner.transport.auth

    assert isinstance(auth, AkSkAuth) and not auth.temporary
