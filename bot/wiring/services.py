"""Everything the entry points run, built once from :class:`Settings`.

``videojobs-bot http`` and ``socket`` build one :class:`~bot.slack.services.Services` per
process (:func:`build_services`) and hand it to :func:`bot.slack.app.create_app`; the
console demo builds the same core (:func:`build_core`) around its own messenger; tests
build both against the simulator and the fake Slack. The tracking stack (SQLAlchemy,
Alembic) is imported only when a core is built, so ``videojobs-bot check``, which needs
only :func:`build_slack_client`, starts quickly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from ..domain.cancel import CancelPolicy
from ..domain.messaging import Messenger
from ..domain.recreate import CallbackConfig
from ..domain.runbook import Runbook, load
from ..settings import Settings
from ..slack.response_url import ResponseUrls
from ..slack.services import Services

if TYPE_CHECKING:
    from ..commands.router import Router
    from ..metastudio.cache import CachedJobsClient
    from ..tracking.process.worker import Tracking


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


@dataclass(frozen=True)
class Core:
    """What every mode shares: the MetaStudio client, tracking, and the router on top."""

    jobs: CachedJobsClient
    tracking: Tracking
    router: Router
    runbook: Runbook
    cancel_policy: CancelPolicy


def build_core(settings: Settings, messenger: Messenger, *,
               group_members: Callable[[str], frozenset[str]] | None = None,
               group_known: Callable[[str], bool | None] | None = None,
               also_allowed: Iterable[str] = (),
               clock: Callable[[], datetime] | None = None) -> Core:
    """Open (and migrate) the database named by ``DATABASE_URL`` and build the client,
    tracking and router. ``group_members`` resolves CANCEL_ALLOWED's user groups and
    ``group_known`` says whether a ``notify=`` group exists;
    ``also_allowed`` adds people who may cancel (the demo's user); ``clock`` replaces
    the wall clock (the demo runs on the simulator's)."""
    from ..commands.retrying import Retrier
    from ..commands.router import Router
    from ..metastudio.creating import JobCreator
    from ..metastudio.operations import JobOperations
    from ..tracking.process.worker import utc_now
    from ..tracking.report_service import ReportCommands
    from ..tracking.store.retries import RetryStore
    from ..tracking.watches.reports import ReportStore
    from .metastudio import build_assets, build_jobs_client
    from .tracking import build_tracking

    runbook = load(settings.runbook_file)
    policy = CancelPolicy(settings.cancel_allowed_ids | set(also_allowed), group_members)
    retry_policy = CancelPolicy(settings.retry_allowed_ids | set(also_allowed), group_members)
    jobs = build_jobs_client(settings)
    clock = clock or utc_now
    creator = JobCreator.of(jobs)
    can_retry = retry_policy.enabled and creator is not None
    tracking = build_tracking(settings, jobs, messenger, runbook=runbook,
                              can_cancel=policy.enabled, can_retry=can_retry, clock=clock,
                              group_known=group_known)
    operations, assets = JobOperations.of(jobs), build_assets(settings, jobs)
    router = Router(jobs, tracking=tracking.service, operations=operations,
                    cancel_policy=policy, quota_warn_percent=settings.quota_warn_percent,
                    reports=ReportCommands(ReportStore(tracking.store), messenger),
                    runbook=runbook, clock=clock, assets=assets,
                    side_by_side=not settings.videojobs_sequential_reads)
    if creator is not None:
        router.retrier = Retrier(
            jobs, creator, RetryStore(tracking.store), tracking.service, retry_policy,
            fresh=router.fresh, clock=clock, assets=assets, operations=operations,
            callback=callback_config(settings))
    return Core(jobs, tracking, router, runbook, policy)


def callback_config(settings: Settings) -> CallbackConfig | None:
    """The ``callback_config`` a retried job is created with: the bot's own receiver,
    MSS_A-signed with ``METASTUDIO_CALLBACK_KEY``, when both the public URL and the key
    are set; else none (the poller still follows the job)."""
    key = settings.metastudio_callback_key
    if settings.metastudio_callback_url and key is not None and key.get_secret_value():
        return CallbackConfig(settings.metastudio_callback_url, key.get_secret_value())
    return None


def build_services(settings: Settings) -> Services:
    """The core with Slack around it: the messenger, user groups, timezones and Home."""
    from ..commands.steps import StepRunner
    from ..slack.home import build_home
    from ..slack.messenger import SlackMessenger
    from ..slack.usergroups import GroupMembers, UserGroupDirectory
    from ..slack.users import TimezoneResolver

    slack = build_slack_client(settings)
    core = build_core(settings, SlackMessenger(slack), group_members=GroupMembers(slack),
                      group_known=UserGroupDirectory(slack).known)
    return Services(
        slack=slack,
        router=core.router,
        timezones=TimezoneResolver(slack, settings.timezone),
        tracking=core.tracking,
        response_urls=ResponseUrls(pool_size=settings.videojobs_answer_threads),
        home=build_home(core.jobs, core.tracking.store, slack),
        answer_threads=settings.videojobs_answer_threads,
        # The same router (client, cache, policies, metrics) and the poller's waits.
        steps=StepRunner(core.router, core.tracking.poller.waits),
    )
