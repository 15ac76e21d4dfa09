"""build_jobs_client: the auth the settings name, their timeouts and TTLs, or one line.
End to end, a client built from settings lists jobs from the simulator over loopback HTTP
with each kind of auth, through the session it was given, with the settings' timeouts,
retry budget and concurrency; impossible settings give exact one-line messages."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from bot.metastudio.auth import AkSkAuth, IamPasswordAuth, TokenAuth
from bot.metastudio.query import JobQuery
from bot.metastudio.transport import Timeouts
from bot.settings import Settings, SettingsError
from bot.simulator import Simulator
from bot.wiring.metastudio import build_auth, build_jobs_client
from tests.fixtures.metastudio import AK, PROJECT_ID, SK, TOKEN

BASE = {"metastudio_region": "cn-north-4", "metastudio_project_id": "proj-1"}


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **{**BASE, **values})


class RecordingSession(requests.Session):
    """A real session that notes the method, URL and timeout of every request."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, Any]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any,
                **kwargs: Any) -> requests.Response:
        self.sent.append((str(method), str(url), kwargs.get("timeout")))
        return super().request(method, url, *args, **kwargs)


def settings_for(simulator: Simulator, **values: object) -> Settings:
    base: dict[str, object] = {
        "metastudio_endpoint": simulator.url, "metastudio_project_id": PROJECT_ID,
        "metastudio_connect_timeout": 1.5, "metastudio_read_timeout": 2.5,
        "metastudio_deadline_seconds": 7.5, "metastudio_retry_budget_seconds": 4.0,
        "metastudio_max_concurrency": 3,
    }
    return Settings(_env_file=None, **{**base, **values})


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


@pytest.mark.parametrize("auth", ["aksk", "token", "iam"])
def test_a_built_client_lists_jobs_through_the_given_session(simulator, auth) -> None:
    simulator.iam_users = {("bob", "acme"): "pw"}
    job_id = simulator.add_job(state="SUCCEED")
    values: dict[str, object] = {
        "aksk": {"metastudio_ak": AK, "metastudio_sk": SK},
        "token": {"metastudio_auth_token": TOKEN},
        "iam": {"metastudio_iam_user": "bob", "metastudio_iam_password": "pw",
                "metastudio_iam_domain": "acme",
                "metastudio_iam_endpoint": simulator.url},
    }[auth]
    session = RecordingSession()

    client = build_jobs_client(settings_for(simulator, metastudio_app_user_id="u-7",
                                            **values), session=session)
    page = client.list_jobs(JobQuery())

    assert [job.job_id for job in page.jobs] == [job_id]
    gets = [r for r in simulator.requests if r.method == "GET"]
    assert [r.headers.get("X-App-UserId") for r in gets] == ["u-7"]
    # Every request, the IAM login included, went through the session given, with the
    # settings' connect and read timeouts (the list's read is cut to the deadline).
    # (the GET is noted first: the IAM login happens while it is being prepared)
    assert sorted(m for m, _, _ in session.sent) == (["GET", "POST"] if auth == "iam"
                                                      else ["GET"])
    assert all(timeout == (1.5, 2.5) for _, _, timeout in session.sent)
    transport = client.inner.transport
    assert transport.session is session
    assert transport.timeouts == Timeouts(connect=1.5, read=2.5, deadline=7.5)


def test_the_settings_retry_budget_and_concurrency_reach_the_transport(simulator) -> None:
    client = build_jobs_client(settings_for(simulator, metastudio_auth_token=TOKEN))

    transport = client.inner.transport
    adapter = transport.session.get_adapter(simulator.url + "/")
    assert adapter.max_retries.budget == 4.0
    assert adapter._pool_maxsize == 3
    assert transport._slots._value == 3
    # Without a session, one is made (and shared with nothing else).
    assert isinstance(transport.session, requests.Session)


def test_a_token_client_sends_that_token(simulator) -> None:
    client = build_jobs_client(settings_for(simulator, metastudio_auth_token="OTHER"))

    with pytest.raises(Exception, match="METASTUDIO_AUTH_TOKEN"):
        client.list_jobs(JobQuery())
    assert simulator.requests[0].headers.get("X-Auth-Token") == "OTHER"


def test_build_auth_names_the_app_user_for_every_kind(simulator) -> None:
    session, timeouts = requests.Session(), Timeouts()
    for values in ({"metastudio_ak": AK, "metastudio_sk": SK},
                   {"metastudio_auth_token": TOKEN},
                   {"metastudio_iam_user": "bob", "metastudio_iam_password": "pw",
                    "metastudio_iam_domain": "acme", "metastudio_iam_endpoint": simulator.url}):
        auth = build_auth(settings_for(simulator, metastudio_app_user_id="u-9", **values),
                          PROJECT_ID, session, timeouts)
        assert auth.app_user_id == "u-9"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"metastudio_endpoint": None},
         "METASTUDIO_ENDPOINT or METASTUDIO_REGION: one is required, "
         "e.g. METASTUDIO_REGION=cn-north-4"),
        ({"metastudio_project_id": None, "metastudio_auth_token": "T"},
         "METASTUDIO_PROJECT_ID: required (the project id)"),
        ({"metastudio_ak": "AK"},
         "METASTUDIO_SK: required with the other half of the AK/SK pair"),
        ({"metastudio_iam_user": "bob"},
         "METASTUDIO_IAM_PASSWORD: required with METASTUDIO_IAM_USER"),
        ({"metastudio_iam_user": "bob", "metastudio_iam_password": "pw",
          "metastudio_iam_endpoint": "https://iam.example"},
         "METASTUDIO_IAM_DOMAIN: required with METASTUDIO_IAM_USER"),
        ({"metastudio_iam_user": "bob", "metastudio_iam_password": "pw",
          "metastudio_iam_domain": "acme"},
         "METASTUDIO_IAM_ENDPOINT: required when METASTUDIO_REGION is not set"),
        ({},
         "METASTUDIO_AK/METASTUDIO_SK: set them, or METASTUDIO_AUTH_TOKEN, or "
         "METASTUDIO_IAM_USER/METASTUDIO_IAM_PASSWORD/METASTUDIO_IAM_DOMAIN"),
    ],
)
def test_impossible_settings_say_exactly_what_is_missing(simulator, values, message) -> None:
    with pytest.raises(SettingsError) as raised:
        build_jobs_client(settings_for(simulator, **values))

    assert str(raised.value) == message


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


def test_the_asset_look_ups_share_the_clients_transport_and_take_their_ttl(simulator):
    from bot.metastudio.assets import summary_path
    from bot.wiring.metastudio import build_assets

    jobs = build_jobs_client(settings_for(simulator, metastudio_auth_token=TOKEN,
                                          cache_asset_ttl_seconds=7))

    assets = build_assets(settings_for(simulator, cache_asset_ttl_seconds=7), jobs)

    assert assets is not None and assets.ttl == 7
    assert assets.inner.transport is jobs.inner.transport
    assert summary_path(PROJECT_ID) in jobs.inner.transport.retry_posts
    model = simulator.add_asset(state="BLOCK")
    assert not assets.summaries([model])[model].usable
