"""Slack glue only: each module acks, builds a Context, asks the router, responds."""

from __future__ import annotations

from slack_bolt import App

from ..services import Services
from . import actions, commands, shortcuts


def register(app: App, services: Services) -> None:
    commands.register(app, services)
    actions.register(app, services)
    shortcuts.register(app, services)
