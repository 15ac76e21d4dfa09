"""Slack glue only: each module acks, builds a Context, asks the router, responds."""

from __future__ import annotations

from slack_bolt import App

from ...wiring.services import Services
from . import actions, commands, home, shortcuts


def register(app: App, services: Services) -> None:
    commands.register(app, services)
    # Before actions: clicks on the Home tab have no response_url (see home.py).
    home.register(app, services)
    actions.register(app, services)
    shortcuts.register(app, services)
