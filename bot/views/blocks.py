"""Small Block Kit building blocks shared by the views, each one enforcing the Slack
limit it is about (3000 characters per section text, 50 blocks per message)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from . import actions
from .format import link, truncate

#: Slack: a message carries at most 50 blocks.
MAX_BLOCKS = 50
#: Slack: a section's text holds at most 3000 characters.
SECTION_TEXT_LIMIT = 3000
#: Length kept for a message's top-level ``text`` (the notification fallback); Slack
#: truncates it at 40,000 characters, and a notification needs far fewer.
TEXT_LIMIT = 1000
#: Slack: a button's value holds at most 2000 characters.
BUTTON_VALUE_LIMIT = 2000


def md(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=truncate(text, SECTION_TEXT_LIMIT))


def section(text: str, **kwargs: Any) -> SectionBlock:
    return SectionBlock(text=md(text), **kwargs)


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[md(text)])


def pack_lines(lines: Iterable[str], limit: int = SECTION_TEXT_LIMIT) -> list[str]:
    """Lines joined into as few texts of at most ``limit`` characters as possible (one
    section each instead of one block per line, to stay under the 50-block limit)."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = truncate(line, limit)
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


def button(text: str, action_id: str, value: str, *, style: str | None = None) -> ButtonElement:
    if len(value) > BUTTON_VALUE_LIMIT:
        raise ValueError(f"button value of {len(value)} characters; Slack allows 2000")
    return ButtonElement(text=text, action_id=action_id, value=value, style=style)


def post_button(post_value: str) -> ButtonElement:
    """"Post to channel": query answers are ephemeral until someone shares them."""
    return button("Post to channel", actions.POST_TO_CHANNEL, post_value)


def actions_block(buttons: list[ButtonElement]) -> list[Block]:
    """An actions block, or nothing when there are no buttons (an empty one is invalid)."""
    return [ActionsBlock(elements=buttons)] if buttons else []


def without_images(blocks: list[Block]) -> list[Block]:
    """The same blocks with every image turned into a link: Slack refuses a whole message
    whose image it cannot download (``invalid_blocks``), even a valid signed URL at times
    (docs/slack-platform.md, "Image blocks that fail"), and a thumbnail is never worth
    losing the answer."""
    kept: list[Block] = []
    for block in blocks:
        data = block.to_dict()
        if data.get("type") == "image":
            kept.append(context(link(data["image_url"], "Cover image")))
            continue
        accessory = data.get("accessory") or {}
        if accessory.get("type") == "image" and data.get("text"):
            del data["accessory"]
            data["text"]["text"] += "\n" + link(accessory["image_url"], "Cover image")
            parsed = Block.parse(data)
            assert parsed is not None  # a section block, a type slack_sdk knows
            kept.append(parsed)
            continue
        kept.append(block)
    return kept
