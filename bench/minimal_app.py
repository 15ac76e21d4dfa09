"""The throughput ceiling: a slack-bolt app that only acknowledges ``/videojobs``, under
the same gunicorn configuration as ``videojobs-bot http`` (bot.serve.web.serve: gthread
workers, ``WEB_CONCURRENCY`` workers of ``WEB_THREADS`` threads, on ``$PORT``).

``python -m bench.minimal_app`` with ``PORT``, ``SLACK_SIGNING_SECRET``,
``SLACK_BOT_TOKEN`` and ``SLACK_API_URL`` set; ``GET /healthz`` answers for readiness.
"""

from __future__ import annotations

import os
from typing import Any

from gunicorn.app.base import BaseApplication
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient


def make_app():
    app = App(
        client=WebClient(token=os.environ["SLACK_BOT_TOKEN"],
                         base_url=os.environ["SLACK_API_URL"]),
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        process_before_response=True,
        token_verification_enabled=False,
    )

    @app.command("/videojobs")
    def ack_only(ack) -> None:
        ack()

    slack = SlackRequestHandler(app)

    def application(environ: dict[str, Any], start_response):
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        return slack(environ, start_response)

    return application


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict[str, Any]):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return make_app()


def main() -> None:
    # The options bot.serve.web.serve passes, from the same variables bot.cli reads.
    _Gunicorn({
        "bind": f"0.0.0.0:{os.environ['PORT']}",
        "worker_class": "gthread",
        "workers": int(os.environ.get("WEB_CONCURRENCY", "1")),
        "threads": int(os.environ.get("WEB_THREADS", "8")),
        "loglevel": os.environ.get("LOG_LEVEL", "warning").lower(),
    }).run()


if __name__ == "__main__":
    main()
