"""Build the bot's MetaStudio client from :class:`~bot.settings.Settings` (read once, at
the entry point, and passed here)."""

from __future__ import annotations

import requests
from requests.auth import AuthBase

from ..metastudio.assets import AssetsAPI
from ..metastudio.auth import AkSkAuth, IamPasswordAuth, TokenAuth
from ..metastudio.cache import CachedAssets, CachedJobsClient
from ..metastudio.client import MetaStudioClient
from ..metastudio.transport import RetryPolicy, Timeouts
from ..settings import Settings, SettingsError


def build_jobs_client(
    settings: Settings, *, session: requests.Session | None = None
) -> CachedJobsClient:
    """The cached client over the plain one, with the auth ``settings.auth_method`` names.

    Raises :class:`SettingsError` (one line naming the variable) when the settings cannot
    make a working client.
    """
    endpoint = settings.endpoint
    if not endpoint:
        raise SettingsError(
            "METASTUDIO_ENDPOINT or METASTUDIO_REGION: one is required, "
            "e.g. METASTUDIO_REGION=cn-north-4"
        )
    project_id = settings.metastudio_project_id
    if not project_id:
        raise SettingsError("METASTUDIO_PROJECT_ID: required (the project id)")
    session = session or requests.Session()
    timeouts = Timeouts(settings.metastudio_connect_timeout, settings.metastudio_read_timeout,
                        settings.metastudio_deadline_seconds)
    client = MetaStudioClient(
        endpoint,
        project_id,
        build_auth(settings, project_id, session, timeouts),
        session=session,
        timeouts=timeouts,
        retry=RetryPolicy(budget=settings.metastudio_retry_budget_seconds),
        max_concurrency=settings.metastudio_max_concurrency,
        side_by_side=not settings.videojobs_sequential_reads,
    )
    return CachedJobsClient(
        client, ttl=settings.cache_ttl_seconds, finished_ttl=settings.cache_finished_ttl_seconds
    )


def build_assets(settings: Settings, jobs: CachedJobsClient) -> CachedAssets | None:
    """The cached asset look-ups over ``jobs``' transport (None for a client without one)."""
    plain = AssetsAPI.of(jobs)
    return CachedAssets(plain, ttl=settings.cache_asset_ttl_seconds) if plain else None


def build_auth(
    settings: Settings, project_id: str, session: requests.Session, timeouts: Timeouts
) -> AuthBase:
    """AK/SK (with its security token when it is a temporary one), a fixed token or an
    IAM login, whichever the settings hold (in that order)."""
    app_user_id = settings.metastudio_app_user_id
    if bool(settings.metastudio_ak) != bool(settings.metastudio_sk):
        missing = "METASTUDIO_SK" if settings.metastudio_ak else "METASTUDIO_AK"
        raise SettingsError(f"{missing}: required with the other half of the AK/SK pair")
    method = settings.auth_method
    security_token = settings.metastudio_security_token
    if security_token is not None and security_token.get_secret_value() and method != "aksk":
        raise SettingsError(
            "METASTUDIO_SECURITY_TOKEN: goes with the temporary METASTUDIO_AK / "
            "METASTUDIO_SK it was issued with; set them too"
        )
    if method == "aksk":
        assert settings.metastudio_ak and settings.metastudio_sk
        return AkSkAuth(
            settings.metastudio_ak.get_secret_value(),
            settings.metastudio_sk.get_secret_value(),
            project_id,
            security_token=security_token.get_secret_value() if security_token else None,
            app_user_id=app_user_id,
        )
    if method == "token":
        assert settings.metastudio_auth_token
        return TokenAuth(settings.metastudio_auth_token.get_secret_value(), app_user_id=app_user_id)
    if method == "iam":
        assert settings.metastudio_iam_user and settings.metastudio_iam_password
        if not settings.metastudio_iam_domain:
            raise SettingsError("METASTUDIO_IAM_DOMAIN: required with METASTUDIO_IAM_USER")
        if not settings.iam_endpoint:
            raise SettingsError(
                "METASTUDIO_IAM_ENDPOINT: required when METASTUDIO_REGION is not set"
            )
        return IamPasswordAuth(
            settings.iam_endpoint,
            settings.metastudio_iam_user,
            settings.metastudio_iam_password.get_secret_value(),
            settings.metastudio_iam_domain,
            project_id,
            session=session,
            timeout=(timeouts.connect, timeouts.read),
            app_user_id=app_user_id,
        )
    if settings.metastudio_iam_user:
        raise SettingsError("METASTUDIO_IAM_PASSWORD: required with METASTUDIO_IAM_USER")
    raise SettingsError(
        "METASTUDIO_AK/METASTUDIO_SK: set them, or METASTUDIO_AUTH_TOKEN, or "
        "METASTUDIO_IAM_USER/METASTUDIO_IAM_PASSWORD/METASTUDIO_IAM_DOMAIN"
    )
