"""``/videojobs``: acknowledge at once, then route the text and answer via response_url.

Why lazy listeners: Slack drops a slash command not acknowledged within 3 seconds, and a
MetaStudio call may take longer than that on its own. ``ack=`` runs in the request's
thread and returns the empty 200 straight away; ``lazy=`` runs afterwards on Bolt's
listener executor and answers through ``respond`` (the command's response_url). The same
split works in HTTP mode (the ack is the HTTP response) and in Socket Mode (the ack is
the envelope acknowledgement), whatever ``process_before_response`` says.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext, Respond

from ..services import Services
from .answer import ack_now, request_context, send


def register(app: App, services: Services) -> None:
    def answer_command(command: dict[str, Any], context: BoltContext, respond: Respond) -> None:
        ctx = request_context(services, context, command.get("channel_name"))
        send(respond, services.router.handle(command.get("text", ""), ctx))

    app.command("/videojobs")(ack=ack_now, lazy=[answer_command])
