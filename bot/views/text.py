"""Plain text for the console demo, from any :class:`Reply`: works on Block Kit's JSON
(``block.to_dict()``), so every view and every block type renders the same way."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import Block

from ..domain.reply import Reply

_RULE = "─" * 40
#: ``<…>`` tokens of Slack mrkdwn: links, mentions, dates (Slack: "Formatting text").
_TOKEN = re.compile(r"<([^<>]*)>")


def render_text(reply: Reply) -> str:
    """The reply as readable text: its blocks when it has any, else its ``text``."""
    if not reply.blocks:
        return mrkdwn_to_text(reply.text)
    return "\n".join(render_blocks(reply.blocks))


def render_blocks(blocks: Sequence[Block | dict[str, Any]]) -> list[str]:
    """Lines for Block Kit blocks, given as objects or as their JSON dicts."""
    lines: list[str] = []
    for block in blocks:
        data = block if isinstance(block, dict) else block.to_dict()
        lines.extend(_block_lines(data))
    return lines


def _block_lines(block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        title = _text(block.get("text"))
        return [title, "=" * len(title)]
    if kind == "divider":
        return [_RULE]
    if kind == "image":
        return [_image(block)]
    if kind == "actions":
        return [" ".join(_element(e) for e in block.get("elements", []))]
    if kind == "context":
        return [" ".join(_element(e) for e in block.get("elements", []))]
    if kind == "section":
        lines = [_text(block["text"])] if block.get("text") else []
        lines += [_text(f).replace("\n", " ") for f in block.get("fields", [])]
        if block.get("accessory"):
            lines.append(_element(block["accessory"]))
        return lines
    # Any other block (rich_text, input, …): whatever text it carries.
    return [t for t in _all_texts(block) if t]


def _element(element: dict[str, Any]) -> str:
    kind = element.get("type")
    if kind in ("mrkdwn", "plain_text"):
        return _text(element)
    if kind == "image":
        return _image(element)
    # Buttons, menus, date pickers: their label or placeholder in brackets.
    label = element.get("text") or element.get("placeholder")
    return f"[{_text(label) if label else kind}]"


def _image(image: dict[str, Any]) -> str:
    # Every image this bot posts is a job's cover.
    url = image.get("image_url") or (image.get("slack_file") or {}).get("url", "")
    return f"[cover: {url}]"


def _text(obj: dict[str, Any] | str | None) -> str:
    if obj is None:
        return ""
    if isinstance(obj, str):
        return obj
    if obj.get("type") == "mrkdwn":
        return mrkdwn_to_text(obj.get("text", ""))
    text: str = obj.get("text", "")
    return text


def _all_texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        if isinstance(value.get("text"), str):
            return [_text(value) if value.get("type") == "mrkdwn" else value["text"]]
        return [t for v in value.values() for t in _all_texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _all_texts(v)]
    return []


def mrkdwn_to_text(text: str) -> str:
    """Slack mrkdwn made readable: ``<url|label>`` -> ``label (url)``, ``<!date^…|x>`` ->
    ``x``, mentions as ``@…`` / ``#…``, entities unescaped. ``*bold*``, ``_italic_`` and
    `` `code` `` are kept as they are (they read fine in a terminal)."""
    return (_TOKEN.sub(_token, text)
            .replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))


def _token(match: re.Match[str]) -> str:
    target, _, label = match.group(1).partition("|")
    if target.startswith("!"):  # <!date^…|fallback>, <!here>, <!subteam^ID|@team>
        # A user group without its handle: its id (``@S0123ABC``), not the word "subteam".
        kind, _, ident = target[1:].partition("^")
        return label or "@" + (ident if kind == "subteam" and ident else kind)
    if target.startswith("@"):
        return "@" + label.lstrip("@") if label else target
    if target.startswith("#"):
        return "#" + label if label else target
    return f"{label} ({target})" if label else target
