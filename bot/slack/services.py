"""What the Slack surfaces work with, built once per process by the composition root
(:func:`bot.wiring.services.build_services`) and handed to :func:`bot.slack.app.create_app`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from slack_sdk import WebClient

from .response_url import ResponseUrls

if TYPE_CHECKING:
    from ..commands.router import Router
    from ..commands.steps import StepRunner
    from ..tracking.process.worker import Tracking
    from .home_publisher import HomePublisher
    from .users import TimezoneResolver


@dataclass(frozen=True)
class Services:
    slack: WebClient
    router: Router
    timezones: TimezoneResolver
    #: The store, poller and sender; ``videojobs-bot worker`` (and Socket Mode) run its
    #: loop, the router uses its commands.
    tracking: Tracking
    #: Publishes App Home tabs (bot/slack/home.py); None where there is no Slack.
    home: HomePublisher | None = None
    #: Posts answers at response_urls over kept-alive connections (bot/slack/response_url.py).
    response_urls: ResponseUrls = field(default_factory=ResponseUrls)
    #: Threads answering commands in this process (VIDEOJOBS_ANSWER_THREADS).
    answer_threads: int = 8
    #: Runs Workflow Builder's custom steps (bot/commands/steps.py); None: no steps.
    steps: StepRunner | None = None
