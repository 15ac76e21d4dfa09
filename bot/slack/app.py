"""``create_app(services, answers)``: the Bolt app, with every listener registered once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App

from . import listeners
from .listeners.answer import Dispatcher
from .services import Services

#: Threads for the listeners that still use Bolt's lazy listeners (App Home, shortcuts;
#: Bolt's default is 5). Commands and clicks use the bot's own queue (bot.slack.answer_queue).
LAZY_LISTENER_THREADS = 16


def create_app(services: Services, answers: Dispatcher, *, signing_secret: str = "",
               verified_in_front: bool = False) -> App:
    """``answers`` answers commands and clicks after their ack (in this process, or in
    the answering process under ``videojobs-bot http``). ``signing_secret``: Socket
    Mode has none, and Bolt skips verification for its requests. ``verified_in_front``:
    the HTTP front (:mod:`bot.slack.request_front`) has already checked each request's
    signature and timestamp on its raw bytes, so Bolt does not check (and log) them a
    second time."""
    app = App(
        client=services.slack,
        # Passing "" rather than None keeps Bolt from reading the environment again.
        signing_secret=signing_secret,
        request_verification_enabled=not verified_in_front,
        # Listeners run in the request's own thread and only queue the answer on the
        # bot's bounded executor (bot.slack.listeners.commands explains why), so the HTTP
        # answer never waits for a free thread.
        process_before_response=True,
        listener_executor=ThreadPoolExecutor(LAZY_LISTENER_THREADS,
                                             thread_name_prefix="listener"),
    )
    listeners.register(app, services, answers)
    return app
