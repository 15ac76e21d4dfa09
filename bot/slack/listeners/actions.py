"""Buttons on the bot's messages (Show more, Refresh, Post to channel, Track):
acknowledge at once, then let the router answer via the click's own response_url.

Every block action is acknowledged, including ones the router does not own (a link
button still sends one, and Slack shows an error for any unacknowledged click). The
router decides the answer: ``replace_original`` for Refresh, ``in_channel`` for Post to
channel, or nothing at all. Like commands, the answer is handed over
(:class:`.answer.Dispatcher`).
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond

from ...telemetry.metrics import COMMANDS
from ..answer_queue import BUSY_TEXT
from .answer import Dispatcher, Work


def register(app: App, answers: Dispatcher) -> None:
    def on_action(ack: Ack, body: dict[str, Any], action: dict[str, Any], context: BoltContext,
                  respond: Respond) -> None:
        ack()
        if not answers.submit(Work.action(body, action, context)):
            # A click's ack cannot carry text; the response_url can.
            COMMANDS.labels(command="any", outcome="busy").inc()
            respond(text=BUSY_TEXT, response_type="ephemeral", replace_original=False)

    app.block_action(re.compile(".*"))(on_action)
