"""The answer to a command or a click: what the router returns, the views build, the
Slack listeners send and the console prints. Its own module so that ``commands`` and
``views`` both import it without importing each other."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from slack_sdk.models.blocks import Block


@dataclass
class Reply:
    """What the router answers; listeners send it through ``respond``, the console prints it."""

    text: str
    blocks: list[Block] = field(default_factory=list)
    response_type: Literal["ephemeral", "in_channel"] = "ephemeral"
    replace_original: bool = False
    #: What replaces this answer once slower reads are done (a status's look-up of ids
    #: the list did not return, the reasons a job ended): called after this one is sent,
    #: its Reply (None: nothing to change) replaces this one. Never part of the payload.
    followup: Callable[[], Reply | None] | None = field(default=None, repr=False,
                                                        compare=False)

    def to_payload(self) -> dict[str, Any]:
        """The JSON body for ``respond`` / a ``response_url``."""
        payload: dict[str, Any] = {
            "text": self.text,
            "response_type": self.response_type,
            "replace_original": self.replace_original,
        }
        if self.blocks:
            payload["blocks"] = [b.to_dict() for b in self.blocks]
        return payload
