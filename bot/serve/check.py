"""``videojobs-bot check``: try the configuration against Slack and MetaStudio and explain
each failure in plain words. Exit status 0 only when everything works."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ..metastudio.api import JobsAPI
from ..metastudio.errors import (
    AuthError,
    BadRequestError,
    BadResponseError,
    ClockSkewError,
    MetaStudioError,
    NotFoundError,
    ThrottledError,
)
from ..metastudio.query import JobQuery
from ..settings import Settings

# Slack's signing secrets are 32 hex characters; a verification token or client id is not.
SIGNING_SECRET = re.compile(r"^[0-9a-f]{32}$")

SLACK_AUTH_ERRORS = {
    "invalid_auth": "SLACK_BOT_TOKEN was refused: copy the Bot User OAuth Token (xoxb-…) "
    "from the app's OAuth & Permissions page.",
    "not_authed": "SLACK_BOT_TOKEN was not sent or is empty.",
    "token_revoked": "SLACK_BOT_TOKEN has been revoked: reinstall the app to the workspace.",
    "account_inactive": "SLACK_BOT_TOKEN belongs to a deleted app or deactivated workspace.",
    "token_expired": "SLACK_BOT_TOKEN has expired: token rotation is on; turn it off or "
    "refresh the token.",
}


@dataclass(frozen=True)
class Finding:
    ok: bool
    subject: str
    text: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.subject}: {self.text}"


def check_slack(settings: Settings, client: WebClient) -> list[Finding]:
    findings = []
    try:
        who = client.auth_test()
    except SlackApiError as e:
        error = e.response.get("error", "unknown_error") if e.response else "unknown_error"
        text = SLACK_AUTH_ERRORS.get(error, f"auth.test answered {error!r}.")
        findings.append(Finding(False, "Slack token", text))
    except OSError as e:  # connection refused, DNS, TLS: urllib raises OSError subclasses
        findings.append(Finding(False, "Slack", f"cannot reach {settings.slack_api_url} ({e})."))
    else:
        findings.append(
            Finding(True, "Slack token", f"bot @{who.get('user')} in workspace {who.get('team')}")
        )
    signing = settings.slack_signing_secret
    secret = signing.get_secret_value() if signing else ""
    if secret and not SIGNING_SECRET.match(secret):
        findings.append(Finding(
            False, "Slack signing secret",
            "SLACK_SIGNING_SECRET should be 32 hex characters (Basic Information -> App "
            "Credentials -> Signing Secret); it looks like something else was pasted.",
        ))
    if settings.slack_app_token and not settings.slack_app_token.get_secret_value().startswith(
        "xapp-"
    ):
        findings.append(Finding(
            False, "Slack app token",
            "SLACK_APP_TOKEN should be an app-level token (xapp-…) with connections:write.",
        ))
    return findings


def check_metastudio(settings: Settings, jobs: JobsAPI) -> Finding:
    where = f"{settings.endpoint}, project {settings.metastudio_project_id}"
    try:
        page = jobs.list_jobs(JobQuery(limit=1))
    except ClockSkewError as e:
        return Finding(False, "MetaStudio", f"{e.hint} ({e.details()})")
    except AuthError as e:
        which = {
            "aksk": "METASTUDIO_AK / METASTUDIO_SK were rejected",
            "token": "METASTUDIO_AUTH_TOKEN was rejected (expired? tokens last 24 h)",
            "iam": "the IAM login or its token was rejected: check METASTUDIO_IAM_USER, "
            "METASTUDIO_IAM_PASSWORD and METASTUDIO_IAM_DOMAIN",
        }.get(settings.auth_method or "", "the credentials were rejected")
        return Finding(False, "MetaStudio credentials", f"{which} ({e.details()})")
    except NotFoundError as e:
        return Finding(
            False, "MetaStudio project",
            f"{where} answered 404: check METASTUDIO_PROJECT_ID and the region/endpoint "
            f"({e.details()})",
        )
    except BadRequestError as e:
        return Finding(False, "MetaStudio", f"the list request was refused ({e.details()})")
    except ThrottledError as e:
        return Finding(False, "MetaStudio", f"throttled; try again in a minute ({e.details()})")
    except BadResponseError as e:
        return Finding(
            False, "MetaStudio endpoint",
            f"{settings.endpoint} did not answer like MetaStudio: check METASTUDIO_ENDPOINT "
            f"or METASTUDIO_REGION ({e.details() or e.message})",
        )
    except MetaStudioError as e:
        return Finding(
            False, "MetaStudio network",
            f"cannot get an answer from {settings.endpoint}: check METASTUDIO_REGION / "
            f"METASTUDIO_ENDPOINT and the network ({e})",
        )
    return Finding(True, "MetaStudio", f"{where}: {page.count} jobs visible")


def run_check(
    settings: Settings,
    *,
    slack: WebClient,
    jobs: JobsAPI,
    out: Callable[[str], None] = print,
) -> int:
    """Print one line per finding; return the exit status."""
    findings = [*check_slack(settings, slack), check_metastudio(settings, jobs)]
    for finding in findings:
        out(finding.line())
    failed = sum(not f.ok for f in findings)
    out("all checks passed" if not failed else f"{failed} check(s) failed")
    return 0 if not failed else 1
