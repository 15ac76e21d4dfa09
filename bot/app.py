"""``create_app(settings, services)``: the Bolt app, with every listener registered once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App

from . import listeners
from .services import Services
from .settings import Settings

#: Threads running the lazy halves of listeners (router calls, response_url posts).
#: Bolt's default is 5; each may wait seconds on MetaStudio.
LISTENER_THREADS = 16


def create_app(settings: Settings, services: Services) -> App:
    secret = settings.slack_signing_secret
    app = App(
        client=services.slack,
        # Socket Mode has no signing secret; Bolt skips verification for its requests.
        # Passing "" rather than None keeps Bolt from reading the environment again.
        signing_secret=secret.get_secret_value() if secret else "",
        # Listeners are split into an ack function and lazy functions
        # (bot.listeners.commands explains why). With process_before_response=True the
        # ack function runs in the request's own thread, so the HTTP answer never waits
        # for a free listener thread; the lazy halves run on the executor.
        process_before_response=True,
        listener_executor=ThreadPoolExecutor(LISTENER_THREADS, thread_name_prefix="listener"),
    )
    listeners.register(app, services)
    return app
