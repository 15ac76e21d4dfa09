"""``/videojobs``: acknowledge at once, then route the text and answer via response_url.

Slack drops a slash command not acknowledged within 3 seconds, and a MetaStudio call may
take longer than that on its own. The listener runs in the request's thread (the app
sets ``process_before_response``): it hands the answer over (:class:`.answer.Dispatcher`:
the bot's bounded queue, or the answering process under ``videojobs-bot http``) and acks
with an empty 200, or, when every place is taken, acks with "busy" so the user knows at
once. The same works in HTTP mode (the ack is the HTTP response) and in Socket Mode (the
envelope acknowledgement).
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext

from ...telemetry.metrics import COMMANDS
from ..answer_queue import BUSY_TEXT
from .answer import Dispatcher, Work


def register(app: App, answers: Dispatcher) -> None:
    def on_command(ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
        if answers.submit(Work.command(command, context)):
            ack()
        else:
            COMMANDS.labels(command="any", outcome="busy").inc()
            ack(text=BUSY_TEXT)

    app.command("/videojobs")(on_command)
