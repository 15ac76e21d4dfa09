"""Slack glue only: each module acks, builds a Context, asks the router, responds."""

from __future__ import annotations

from slack_bolt import App

from ..services import Services
from . import actions, commands, home, shortcuts, steps
from .answer import Dispatcher


def register(app: App, services: Services, answers: Dispatcher) -> None:
    commands.register(app, answers)
    # Before actions: clicks on the Home tab have no response_url (see home.py).
    home.register(app, services)
    actions.register(app, answers)
    shortcuts.register(app, services)
    steps.register(app, services)
