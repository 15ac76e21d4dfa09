"""Configuration: read once, one line naming a bad variable, secrets never printed."""

import pytest

from bot.settings import Settings, SettingsError, load_settings

HTTP_ENV = {
    "SLACK_BOT_TOKEN": "xoxb-1-secret",
    "SLACK_SIGNING_SECRET": "signing-secret-value",
    "METASTUDIO_REGION": "cn-north-4",
    "METASTUDIO_PROJECT_ID": "proj",
    "METASTUDIO_AK": "AK",
    "METASTUDIO_SK": "SK-secret-value",
}


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in [*HTTP_ENV, "DATABASE_URL", "HUAWEICLOUD_SDK_AK"]:
        monkeypatch.delenv(name, raising=False)

    def set_env(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_env


def test_complete_http_configuration(env):
    env(**HTTP_ENV, DATABASE_URL="postgres://u:pw@db/videojobs")
    settings = load_settings("http")
    assert settings.endpoint == "https://metastudio.cn-north-4.myhuaweicloud.com"
    assert settings.database_url == "postgresql+psycopg://u:pw@db/videojobs"
    assert settings.auth_method == "aksk"
    shown = repr(settings) + str(settings)
    for secret in ("xoxb-1-secret", "signing-secret-value", "SK-secret-value", "pw@db"):
        assert secret not in shown


def test_huaweicloud_sdk_names_are_accepted(env):
    env(**{k: v for k, v in HTTP_ENV.items() if not k.startswith("METASTUDIO_")})
    env(METASTUDIO_ENDPOINT="http://127.0.0.1:9/", HUAWEICLOUD_SDK_AK="AK",
        HUAWEICLOUD_SDK_SK="SK", HUAWEICLOUD_SDK_PROJECT_ID="proj")
    settings = load_settings("http")
    assert settings.metastudio_project_id == "proj"
    assert settings.endpoint == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"SLACK_BOT_TOKEN": ""}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxp-user-token"}, "SLACK_BOT_TOKEN"),
        ({"METASTUDIO_REGION": ""}, "METASTUDIO_ENDPOINT or METASTUDIO_REGION"),
        ({"METASTUDIO_SK": ""}, "METASTUDIO_SK"),
        ({"POLL_INTERVAL_SECONDS": "soon"}, "POLL_INTERVAL_SECONDS"),
        ({"POLL_INTERVAL_SECONDS": "0"}, "POLL_INTERVAL_SECONDS"),
        ({"VIDEOJOBS_TIMEZONE": "Mars/Olympus"}, "VIDEOJOBS_TIMEZONE"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"METASTUDIO_ENDPOINT": "metastudio.example"}, "METASTUDIO_ENDPOINT"),
    ],
)
def test_a_bad_setting_is_named_in_one_line(env, change, names):
    env(**{**HTTP_ENV, **change})
    with pytest.raises(SettingsError) as e:
        load_settings("http")
    message = str(e.value)
    assert message.startswith(names + ":")
    assert "\n" not in message
    assert "SK-secret-value" not in message


def test_socket_mode_needs_an_app_token(env):
    env(**HTTP_ENV)
    with pytest.raises(SettingsError, match=r"^SLACK_APP_TOKEN"):
        load_settings("socket")


def test_iam_login_needs_a_domain(env):
    env(**{k: v for k, v in HTTP_ENV.items() if k not in ("METASTUDIO_AK", "METASTUDIO_SK")})
    env(METASTUDIO_IAM_USER="bot", METASTUDIO_IAM_PASSWORD="pw")
    with pytest.raises(SettingsError, match=r"^METASTUDIO_IAM_DOMAIN"):
        load_settings("http")
    env(METASTUDIO_IAM_DOMAIN="acme")
    settings = load_settings("http")
    assert settings.auth_method == "iam"
    assert settings.iam_endpoint == "https://iam.cn-north-4.myhuaweicloud.com"


def test_demo_needs_nothing(env):
    assert load_settings("demo").timezone.key == "UTC"


def test_tests_build_settings_directly():
    settings = Settings(poll_interval_seconds=0.5, _env_file=None)
    assert settings.poll_interval_seconds == 0.5


@pytest.mark.parametrize("value", [None, "", "   "])
def test_http_mode_refuses_to_start_without_the_signing_secret(env, value):
    env(**{k: v for k, v in HTTP_ENV.items() if k != "SLACK_SIGNING_SECRET"})
    if value is not None:
        env(SLACK_SIGNING_SECRET=value)
    with pytest.raises(SettingsError, match=r"^SLACK_SIGNING_SECRET: required"):
        load_settings("http")


def test_socket_mode_needs_no_signing_secret(env):
    env(**{k: v for k, v in HTTP_ENV.items() if k != "SLACK_SIGNING_SECRET"},
        SLACK_APP_TOKEN="xapp-1-A1-token")
    assert load_settings("socket").slack_signing_secret is None
