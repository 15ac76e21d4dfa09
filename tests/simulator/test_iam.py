"""IAM's POST /v3/auth/tokens on the same server: a password login gives a token in
X-Subject-Token that the list endpoint accepts until it expires."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.fixtures.simulator import SIM_PROJECT

USER, DOMAIN, PASSWORD = "bob", "acme", "correct horse"


def password_login(name=USER, password=PASSWORD, domain=DOMAIN, project=SIM_PROJECT) -> dict:
    """The body IAM's password method takes, scoped to a project."""
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": name, "password": password, "domain": {"name": domain}}
                },
            },
            "scope": {"project": {"id": project}},
        }
    }


@pytest.fixture
def iam(simulator):
    simulator.iam_users = {(USER, DOMAIN): PASSWORD}
    return simulator


def login(sim_api, body):
    return sim_api.session.post(sim_api.sim.url + "/v3/auth/tokens", json=body)


def test_a_login_issues_a_token_for_24_hours(iam, sim_api):
    response = login(sim_api, password_login())

    assert response.status_code == 201
    token = response.headers["X-Subject-Token"]
    expires = datetime.fromisoformat(response.json()["token"]["expires_at"])
    assert expires == iam.now() + timedelta(hours=24)
    assert sim_api.list(token=token).status_code == 200
    assert iam.iam_logins == 1


def test_an_issued_token_expires(iam, sim_api, sim_clock):
    iam.iam_token_ttl = timedelta(hours=1)
    token = login(sim_api, password_login()).headers["X-Subject-Token"]

    sim_clock.advance(3600)

    response = sim_api.list(token=token)
    assert response.status_code == 401
    assert response.json()["error_code"] == "MSS.00000001"


@pytest.mark.parametrize(
    "body",
    [
        password_login(password="wrong"),
        password_login(name="eve"),
        password_login(domain="other"),
        password_login(project="other-project"),
    ],
    ids=["password", "user", "domain", "project"],
)
def test_a_wrong_login_is_401_and_counted(iam, sim_api, body):
    response = login(sim_api, body)

    assert response.status_code == 401
    assert "X-Subject-Token" not in response.headers
    assert response.json()["error"]["code"] == 401
    assert iam.iam_logins == 1


def test_a_body_that_is_not_json_is_400(iam, sim_api):
    response = sim_api.session.post(iam.url + "/v3/auth/tokens", data="user=bob")

    assert response.status_code == 400
    assert response.headers["X-Request-Id"]
