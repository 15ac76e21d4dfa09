"""Secrets never reach logs or output (README.md, "Configuration"): real processes at
DEBUG, with every kind of credential, and their whole output scanned for the secret values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.fixtures.app import bot_env
from tests.fixtures.metastudio import AK, PROJECT_ID, SK

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"[:32]
APP_TOKEN = "xapp-1-A111-222-secretappvalue"


def run_check(tmp_path: Path, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check"], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, env=bot_env(LOG_LEVEL="DEBUG", **env),
    )
    return result.stdout + result.stderr


def base_env(fake_slack, simulator) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": fake_slack.token, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_API_URL": fake_slack.url,
        "METASTUDIO_ENDPOINT": simulator.url, "METASTUDIO_PROJECT_ID": PROJECT_ID,
    }


def test_aksk_and_slack_secrets_stay_out_of_debug_logs(fake_slack, simulator, tmp_path):
    output = run_check(tmp_path, **base_env(fake_slack, simulator),
                       METASTUDIO_AK=AK, METASTUDIO_SK=SK)

    assert "DEBUG" in output and "MetaStudio" in output  # it did log, verbosely
    signatures = [r.headers["Authorization"].rsplit("=", 1)[-1] for r in simulator.requests]
    for secret in (SK, fake_slack.token, SIGNING_SECRET, APP_TOKEN, *signatures):
        assert secret not in output


def test_a_temporary_aksks_security_token_stays_out_of_debug_logs(fake_slack, simulator,
                                                                 tmp_path):
    token = "gQpjbi1ub3J0aC00-temporary-security-token-secretvalue"
    simulator.gatekeeper.security_token = token  # the simulator's AK/SK: a temporary pair
    output = run_check(tmp_path, **base_env(fake_slack, simulator), HUAWEICLOUD_SDK_AK=AK,
                       HUAWEICLOUD_SDK_SK=SK, HUAWEICLOUD_SDK_SECURITY_TOKEN=token)

    assert "ok   MetaStudio" in output, output  # sent (and signed), so accepted
    assert all(r.headers.get("X-Security-Token") == token for r in simulator.requests)
    assert "DEBUG" in output
    for secret in (SK, token):
        assert secret not in output


def test_a_refused_signature_is_explained_without_the_secret(fake_slack, simulator, tmp_path):
    output = run_check(tmp_path, **base_env(fake_slack, simulator),
                       METASTUDIO_AK=AK, METASTUDIO_SK="SK-WRONG-secret-value")

    assert "METASTUDIO_AK" in output  # which credential to check
    assert "SK-WRONG-secret-value" not in output


def test_iam_password_and_issued_token_stay_out_of_debug_logs(fake_slack, simulator, tmp_path):
    simulator.iam_users = {("bot-user", "acme"): "iam-password-value"}
    output = run_check(
        tmp_path, **base_env(fake_slack, simulator),
        METASTUDIO_IAM_USER="bot-user", METASTUDIO_IAM_PASSWORD="iam-password-value",
        METASTUDIO_IAM_DOMAIN="acme", METASTUDIO_IAM_ENDPOINT=simulator.url,
    )

    tokens = {r.headers["X-Auth-Token"] for r in simulator.requests if "X-Auth-Token" in r.headers}
    assert tokens, "the check should have used an IAM token"
    for secret in ("iam-password-value", *tokens):
        assert secret not in output
