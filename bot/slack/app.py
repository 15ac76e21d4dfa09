"""``create_app(settings, services)``: the Bolt app, with every listener registered once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App

from ..settings import Settings
from ..wiring.services import Services
from . import listeners

#: Threads for the listeners that still use Bolt's lazy listeners (App Home, shortcuts;
#: Bolt's default is 5). Commands and clicks use the bot's own queue (bot.slack.answer_queue).
LAZY_LISTENER_THREADS = 16


def create_app(settings: Settings, services: Services, *, verified_in_front: bool = False) -> App:
    """``verified_in_front``: the HTTP front (:mod:`bot.slack.request_front`) has already checked
    each request's signature and timestamp on its raw bytes, so Bolt does not check (and
    log) them a second time."""
    secret = settings.slack_signing_secret
    app = App(
        client=services.slack,
        # Socket Mode has no signing secret; Bolt skips verification for its requests.
        # Passing "" rather than None keeps Bolt from reading the environment again.
        signing_secret=secret.get_secret_value() if secret else "",
        request_verification_enabled=not verified_in_front,
        # Listeners run in the request's own thread and only queue the answer on the
        # bot's bounded executor (bot.slack.listeners.commands explains why), so the HTTP
        # answer never waits for a free thread.
        process_before_response=True,
        listener_executor=ThreadPoolExecutor(LAZY_LISTENER_THREADS,
                                             thread_name_prefix="listener"),
    )
    listeners.register(app, services)
    return app
