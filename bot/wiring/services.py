"""Everything a Slack entry point needs, built once from :class:`Settings`.

``videojobs-bot http`` and ``socket`` build one :class:`Services` per process and hand it
to :func:`bot.slack.app.create_app`; tests build it against the simulator and the fake Slack.
The tracking stack (SQLAlchemy, Alembic) is imported only by :func:`build_services`, so
``videojobs-bot check``, which needs only :func:`build_slack_client`, starts quickly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from ..settings import Settings
from ..slack.response_url import ResponseUrls

if TYPE_CHECKING:
    from ..commands.router import Router
    from ..domain.cancel import CancelPolicy
    from ..serve.answer_process import AnswerProcess
    from ..slack.answer_queue import AnswerQueue
    from ..slack.home_publisher import HomePublisher
    from ..slack.users import TimezoneResolver
    from ..tracking.process.worker import Tracking


@dataclass(frozen=True)
class Services:
    slack: WebClient
    router: Router
    timezones: TimezoneResolver
    #: The store, poller and sender; ``videojobs-bot worker`` (and Socket Mode) run its
    #: loop, the router uses its commands.
    tracking: Tracking
    #: The bounded executor that answers commands and clicks (bot.slack.answer_queue).
    answers: AnswerQueue
    #: Publishes App Home tabs (bot/slack/home.py); None where there is no Slack.
    home: HomePublisher | None = None
    #: Under ``videojobs-bot http``, the process that answers instead of ``answers``
    #: (bot.serve.answer_process), so the acks keep a core of their own.
    answer_process: AnswerProcess | None = None
    #: Posts answers at response_urls over kept-alive connections (bot/slack/response_url.py).
    response_urls: ResponseUrls = field(default_factory=ResponseUrls)


def build_slack_client(settings: Settings) -> WebClient:
    """The Web API client for interactive work (users.info, tracking posts from commands).

    A ``WebClient`` retries only connection errors unless told otherwise (docs/slack-platform.md);
    these handlers add one retry after a 429's Retry-After and two after a 5xx. Bolt
    copies them into the per-request clients it hands to listeners.
    """
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(
        token=token,
        base_url=settings.slack_api_url,
        retry_handlers=[
            ConnectionErrorRetryHandler(),
            RateLimitErrorRetryHandler(max_retry_count=1),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def install_oncall(settings: Settings, slack: WebClient | None) -> CancelPolicy:
    """The process-wide runbook (RUNBOOK_FILE over the built-in hints) and Cancel policy
    (CANCEL_ALLOWED; group members from ``slack``), which messages built anywhere use."""
    from ..domain import cancel, runbook
    from ..domain.cancel import CancelPolicy, GroupMembers

    runbook.install(runbook.load(settings.runbook_file))
    policy = CancelPolicy(settings.cancel_allowed_ids,
                          GroupMembers(slack) if slack is not None else None)
    cancel.install(policy)
    return policy


def build_services(settings: Settings) -> Services:
    """Opens (and migrates) the database named by ``DATABASE_URL``."""
    from ..commands.reports import ReportCommands
    from ..commands.router import Router
    from ..metastudio.operations import JobOperations
    from ..slack.answer_queue import AnswerQueue
    from ..slack.home import build_home
    from ..slack.messenger import SlackMessenger
    from ..slack.users import TimezoneResolver
    from ..tracking.process.worker import build_tracking
    from ..tracking.watches.reports import ReportStore
    from .metastudio import build_jobs_client

    slack = build_slack_client(settings)
    jobs = build_jobs_client(settings)
    tracking = build_tracking(settings, jobs, SlackMessenger(slack))
    policy = install_oncall(settings, slack)
    return Services(
        slack=slack,
        router=Router(jobs, tracking=tracking.service, operations=JobOperations.of(jobs),
                      cancel_policy=policy, quota_warn_percent=settings.quota_warn_percent,
                      reports=ReportCommands(ReportStore(tracking.store),
                                             tracking.service.messenger)),
        timezones=TimezoneResolver(slack, settings.timezone),
        tracking=tracking,
        answers=AnswerQueue(settings.videojobs_answer_threads),
        response_urls=ResponseUrls(pool_size=settings.videojobs_answer_threads),
        home=build_home(jobs, tracking.store, slack),
    )
