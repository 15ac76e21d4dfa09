"""Configuration, read once at the entry point (environment and ``.env``) and passed down.

Tests build :class:`Settings` directly. A missing or malformed value stops start-up with
one line naming the variable (:class:`SettingsError`); secrets are ``SecretStr`` so they
never print.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .domain.runbook import load as load_runbook

Mode = Literal["demo", "http", "socket", "worker", "simulator", "check"]


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line naming it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    # Slack
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    # MetaStudio
    metastudio_endpoint: str | None = None
    metastudio_region: str | None = None
    metastudio_project_id: str | None = Field(
        None, validation_alias=AliasChoices("METASTUDIO_PROJECT_ID", "HUAWEICLOUD_SDK_PROJECT_ID")
    )
    metastudio_ak: SecretStr | None = Field(
        None, validation_alias=AliasChoices("METASTUDIO_AK", "HUAWEICLOUD_SDK_AK")
    )
    metastudio_sk: SecretStr | None = Field(
        None, validation_alias=AliasChoices("METASTUDIO_SK", "HUAWEICLOUD_SDK_SK")
    )
    #: With a temporary AK/SK (an ECS/CCE agency's, or IAM's securitytokens): sent, and
    #: signed, as ``X-Security-Token``; it expires with the AK/SK it came with.
    metastudio_security_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("METASTUDIO_SECURITY_TOKEN",
                                            "HUAWEICLOUD_SDK_SECURITY_TOKEN")
    )
    metastudio_auth_token: SecretStr | None = None
    metastudio_iam_user: str | None = None
    metastudio_iam_password: SecretStr | None = None
    metastudio_iam_domain: str | None = None
    metastudio_iam_endpoint: str | None = None
    metastudio_app_user_id: str | None = None
    #: Connect and read timeouts, and the total time a request may spend retrying.
    metastudio_connect_timeout: float = Field(3.05, gt=0)
    metastudio_read_timeout: float = Field(10.0, gt=0)
    metastudio_retry_budget_seconds: float = Field(20.0, ge=0)

    # State and behaviour
    #: repr=False: a PostgreSQL URL may carry a password.
    database_url: str = Field("sqlite:///videojobs.sqlite3", repr=False)
    poll_interval_seconds: float = Field(30.0, gt=0)
    videojobs_timezone: str = "UTC"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    port: int = Field(3000, ge=1, le=65535)
    #: Seconds a running job's answer stays cached; finished jobs stay longer.
    cache_ttl_seconds: float = Field(15.0, ge=0)
    cache_finished_ttl_seconds: float = Field(600.0, ge=0)
    #: Seconds asset look-ups (why a job failed) are reused.
    cache_asset_ttl_seconds: float = Field(60.0, ge=0)
    #: Broadcast FAILED thread replies to the channel (README.md, "Configuration").
    broadcast_failures: bool = True
    #: Jobs ending in one poll for one channel above this become one digest.
    digest_threshold: int = Field(5, ge=1)

    # Push and retention (docs/polling.md)
    #: The ``key`` of MetaStudio's MSS_A-signed job callbacks (POST /metastudio/callback).
    metastudio_callback_key: SecretStr | None = None
    #: The callback URL exactly as given to MetaStudio in ``callback_config`` (it is what
    #: MetaStudio signs); unset, the URL the request arrived at is used, which behind a
    #: proxy is not the public one.
    metastudio_callback_url: str | None = None
    #: Sent notifications, closed tracked jobs and seen outcomes are kept this long.
    retention_days: float = Field(7.0, gt=0)

    # Load and failure limits (docs/operations.md)
    #: Total seconds one MetaStudio request may take, retries and a slow answer included.
    metastudio_deadline_seconds: float = Field(30.0, gt=0)
    #: MetaStudio requests in flight at once per process (and its connection pool size).
    metastudio_max_concurrency: int = Field(64, ge=1)
    #: Threads answering commands per process; as many again may wait, then "busy".
    videojobs_answer_threads: int = Field(64, ge=1)
    #: Under ``videojobs-bot http``, answer in a child process per gunicorn worker, so
    #: the acks keep a core of their own (bot/serve/answer_process.py); false saves its memory.
    videojobs_answer_process: bool = True
    #: Benchmarks only: the previous design's reads one after another (a summary in two
    #: rounds, a status look-up answered once all its reads are done), so ``python -m
    #: bench --only ack`` measures both designs in one run. Never set it in production.
    videojobs_sequential_reads: bool = False

    # Other Slack surfaces: covers, App Home (docs/surfaces.md)
    #: Upload finished jobs' covers to Slack and show them with ``slack_file``.
    cover_upload: bool = True

    # Delivery of notifications (docs/delivery.md)
    #: A sender's lease on a channel and its rows, renewed before every post and every
    #: third of it while a pass runs (docs/delivery.md, "Leases kept alive"). A dead
    #: sender's channels wait this long at most.
    delivery_lease_seconds: float = Field(2.0, gt=0)
    #: The poller's lease (one process per database polls) and each tracking process's
    #: liveness, renewed every third of it: a dead poller is replaced within this long
    #: (docs/polling.md, "One poller per database").
    poll_lease_seconds: float = Field(2.0, gt=0)
    #: Posts per second per channel (Slack allows about one).
    delivery_channel_rate: float = Field(1.0, gt=0)
    #: Transient Slack failures: first wait, and the cap of the doubling waits.
    delivery_backoff_seconds: float = Field(5.0, gt=0)
    delivery_max_backoff_seconds: float = Field(300.0, gt=0)
    #: A notification still failing transiently this long after it was written is
    #: given up (logged, and listed by ``tracked``).
    delivery_give_up_hours: float = Field(24.0, gt=0)
    #: While Slack refuses the token: first auth.test check after this, doubling up to
    #: the maximum.
    delivery_probe_seconds: float = Field(5.0, gt=0)
    delivery_probe_max_seconds: float = Field(300.0, gt=0)
    #: ``http``: the tracking process is restarted this long after it dies, doubling up
    #: to the maximum (back to the first wait once it has run a minute).
    tracking_restart_seconds: float = Field(1.0, gt=0)
    tracking_restart_max_seconds: float = Field(60.0, gt=0)
    #: ``http`` and ``socket`` start without Slack: ``auth.test`` (and Socket Mode's first
    #: connection) is asked again after this while Slack does not answer, doubling up to
    #: the maximum.
    slack_verify_seconds: float = Field(1.0, gt=0)
    slack_verify_max_seconds: float = Field(60.0, gt=0)

    # -- on-call triage ------------------------------------------------------------
    #: Slack user (U…/W…) and user group (S…) IDs allowed to press Cancel, separated by
    #: commas or spaces; empty: no Cancel button.
    cancel_allowed: str = ""
    #: The same for re-creating a failed job (Retry, ``retry ID``); empty: no Retry.
    retry_allowed: str = ""
    #: An unacknowledged page is repeated in its thread after this many minutes, and
    #: escalated to the channel's escalation group after as many more.
    escalate_after_minutes: float = Field(15.0, gt=0)
    #: Failures of one error code and job type this close together are one incident.
    incident_window_minutes: float = Field(60.0, gt=0)
    #: YAML file of error code -> {hint, link}, over the built-in runbook.
    runbook_file: str | None = None
    #: Warn when less than this share of a package's video minutes is left.
    quota_warn_percent: float = Field(10.0, ge=0, le=100)

    @field_validator("cancel_allowed", "retry_allowed")
    @classmethod
    def _slack_ids(cls, value: str) -> str:
        for item in value.replace(",", " ").split():
            if not (item[:1] in ("U", "W", "S") and item.isalnum() and item.isupper()):
                raise ValueError(f"`{item[:20]}` is not a Slack user (U…) or user group (S…) ID")
        return value

    @field_validator("runbook_file")
    @classmethod
    def _runbook(cls, value: str | None) -> str | None:
        if value:
            load_runbook(value)  # RunbookError is a ValueError: its message names the file
        return value or None

    @property
    def cancel_allowed_ids(self) -> frozenset[str]:
        return frozenset(self.cancel_allowed.replace(",", " ").split())

    @property
    def retry_allowed_ids(self) -> frozenset[str]:
        return frozenset(self.retry_allowed.replace(",", " ").split())

    @field_validator("videojobs_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError("expected an IANA timezone name such as Europe/Berlin") from e
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _sqlalchemy_url(cls, value: str) -> str:
        # Heroku-style platforms still hand out postgres://, which SQLAlchemy refuses.
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                value = "postgresql+psycopg://" + value[len(prefix) :]
        if not value.startswith(("sqlite:", "postgresql+psycopg:")):
            raise ValueError("expected sqlite:///FILE or postgresql://USER@HOST/DB")
        # The driver is the `postgres` extra: say so at start-up, not as an ImportError later.
        if value.startswith("postgresql+psycopg:") and importlib.util.find_spec("psycopg") is None:
            raise ValueError("PostgreSQL needs its driver: pip install 'videojobs[postgres]'")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http(s) URL such as https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @field_validator("metastudio_callback_url")
    @classmethod
    def _callback_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("expected the public URL, e.g. https://bot.example.com"
                             "/metastudio/callback")
        return value

    @field_validator("metastudio_endpoint")
    @classmethod
    def _endpoint_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(
                "expected a URL such as https://metastudio.cn-north-4.myhuaweicloud.com"
            )
        return value.rstrip("/") if value else value

    # -- derived values ------------------------------------------------------------

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.videojobs_timezone)

    @property
    def endpoint(self) -> str | None:
        """The MetaStudio base URL from METASTUDIO_ENDPOINT or METASTUDIO_REGION."""
        if self.metastudio_endpoint:
            return self.metastudio_endpoint
        if self.metastudio_region:
            return f"https://metastudio.{self.metastudio_region}.myhuaweicloud.com"
        return None

    @property
    def iam_endpoint(self) -> str | None:
        if self.metastudio_iam_endpoint:
            return self.metastudio_iam_endpoint.rstrip("/")
        if self.metastudio_region:
            return f"https://iam.{self.metastudio_region}.myhuaweicloud.com"
        return None

    @property
    def auth_method(self) -> Literal["aksk", "token", "iam"] | None:
        if self.metastudio_ak and self.metastudio_sk:
            return "aksk"
        if self.metastudio_auth_token:
            return "token"
        if self.metastudio_iam_user and self.metastudio_iam_password:
            return "iam"
        return None

    # -- per-mode requirements -------------------------------------------------------

    def require(self, mode: Mode) -> Settings:
        """Raise :class:`SettingsError` naming the first setting ``mode`` lacks."""
        if mode in ("demo", "simulator"):
            return self
        if mode in ("http", "socket", "worker", "check"):
            _need(self.slack_bot_token, "SLACK_BOT_TOKEN", "the bot token (xoxb-...)")
        if mode == "http":
            # Without it no request to /slack/events can be verified (the front refuses
            # them all); blank counts as unset. Socket Mode needs no signing secret.
            secret = self.slack_signing_secret
            if secret is None or not secret.get_secret_value().strip():
                raise SettingsError("SLACK_SIGNING_SECRET: required (the app's signing secret)")
        if mode == "socket":
            _need(self.slack_app_token, "SLACK_APP_TOKEN", "an app-level token (xapp-...)")
        token = self.slack_bot_token.get_secret_value() if self.slack_bot_token else ""
        if token and not token.startswith("xoxb-"):
            raise SettingsError("SLACK_BOT_TOKEN: expected a bot token starting with xoxb-")
        app_token = self.slack_app_token.get_secret_value() if self.slack_app_token else ""
        if mode == "socket" and not app_token.startswith("xapp-"):
            raise SettingsError("SLACK_APP_TOKEN: expected an app-level token starting with xapp-")
        if not self.endpoint:
            raise SettingsError(
                "METASTUDIO_ENDPOINT or METASTUDIO_REGION: one is required, "
                "e.g. METASTUDIO_REGION=cn-north-4"
            )
        _need(self.metastudio_project_id, "METASTUDIO_PROJECT_ID", "the project id")
        if self.metastudio_ak and not self.metastudio_sk:
            raise SettingsError("METASTUDIO_SK: required with METASTUDIO_AK")
        if self.metastudio_sk and not self.metastudio_ak:
            raise SettingsError("METASTUDIO_AK: required with METASTUDIO_SK")
        if self.metastudio_iam_user and not self.metastudio_iam_password:
            raise SettingsError("METASTUDIO_IAM_PASSWORD: required with METASTUDIO_IAM_USER")
        if self.auth_method == "iam":
            _need(self.metastudio_iam_domain, "METASTUDIO_IAM_DOMAIN", "the IAM account name")
            if not self.iam_endpoint:
                raise SettingsError(
                    "METASTUDIO_IAM_ENDPOINT: required when METASTUDIO_REGION is not set"
                )
        if self.auth_method is None:
            raise SettingsError(
                "METASTUDIO_AK/METASTUDIO_SK: set them, or METASTUDIO_AUTH_TOKEN, or "
                "METASTUDIO_IAM_USER/METASTUDIO_IAM_PASSWORD/METASTUDIO_IAM_DOMAIN"
            )
        return self


def _need(value: object, name: str, what: str) -> None:
    if not value or (isinstance(value, SecretStr) and not value.get_secret_value()):
        raise SettingsError(f"{name}: required ({what})")


def load_settings(mode: Mode, **overrides: Any) -> Settings:
    """Read the environment (and ``.env``) once, for ``mode``; one line on failure."""
    try:
        settings = Settings(**overrides)
    except ValidationError as e:
        first = e.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        message = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{name}: {message}") from None
    return settings.require(mode)
