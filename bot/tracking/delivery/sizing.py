"""How big a message is, the way Slack counts it, and how to cut it into parts.

Slack refuses more than 50 blocks (``invalid_blocks``) and, undocumented, blocks that
carry more than about 12,000 characters of text in total (``msg_blocks_too_long``,
https://github.com/slackapi/bolt-js/issues/2509). The sender packs digest details under
both limits with room to spare, and splits whatever Slack still refuses
(``docs/delivery.md``). Written by hand: slack_sdk validates single blocks, not a
message's total.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ...domain.messaging import Blocks

#: Slack's block limit per message.
MAX_BLOCKS = 50
#: Characters of block text we put in one message: under the ~12,000 Slack accepts, with
#: room for its counting to differ from ours.
BLOCK_TEXT_BUDGET = 10_000
#: The ``text`` of a message without blocks, per part: Slack truncates at 40,000, and
#: 3,000 keeps each part readable.
TEXT_PART = 3_000

T = TypeVar("T")


def as_dict(block: Any) -> dict[str, Any]:
    """A Block Kit block (slack_sdk model or dict) as the dict Slack receives."""
    return block.to_dict() if hasattr(block, "to_dict") else dict(block)


def text_chars(value: Any) -> int:
    """Characters of text in blocks: every ``text`` string at any depth (section texts,
    fields, context elements), as Slack's ``msg_blocks_too_long`` counts."""
    if isinstance(value, (list, tuple)):
        return sum(text_chars(v) for v in value)
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    if not isinstance(value, dict):
        return 0
    total = 0
    for key, inner in value.items():
        if key == "text" and isinstance(inner, str):
            total += len(inner)
        elif isinstance(inner, (dict, list)):
            total += text_chars(inner)
    return total


def pack(
    items: Sequence[T], blocks_of: Callable[[T], Blocks], *, max_items: int,
    max_blocks: int = MAX_BLOCKS, max_chars: int = BLOCK_TEXT_BUDGET,
) -> list[list[T]]:
    """``items`` in order, in as few groups as fit: at most ``max_items`` each, and the
    blocks of a group at most ``max_blocks`` and ``max_chars`` characters of text. An
    item too big on its own gets a group of its own (the sender splits it further if
    Slack refuses). Deterministic: the same items always give the same groups."""
    groups: list[list[T]] = []
    current: list[T] = []
    blocks = chars = 0
    for item in items:
        item_blocks = blocks_of(item)
        n, c = len(item_blocks), text_chars(list(item_blocks))
        if current and (len(current) >= max_items or blocks + n > max_blocks
                        or chars + c > max_chars):
            groups.append(current)
            current, blocks, chars = [], 0, 0
        current.append(item)
        blocks, chars = blocks + n, chars + c
    if current:
        groups.append(current)
    return groups


def halves(blocks: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """Two messages of about equal text from one Slack refused (at least one block each)."""
    total, running = text_chars(list(blocks)), 0
    for i, block in enumerate(blocks[:-1], start=1):
        running += text_chars(block)
        if running * 2 >= total:
            return list(blocks[:i]), list(blocks[i:])
    return list(blocks[:-1]), list(blocks[-1:])


def plain_text(blocks: Sequence[Any]) -> str:
    """The text a block carries, for sending it as plain text when even one block alone
    is refused."""
    parts: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for key, inner in value.items():
                if key == "text" and isinstance(inner, str):
                    parts.append(inner)
                elif isinstance(inner, (dict, list)):
                    walk(inner)

    walk([as_dict(b) for b in blocks])
    return "\n".join(parts)


def text_parts(text: str, size: int = TEXT_PART) -> list[str]:
    """``text`` cut at line ends (or hard, for a longer line) into parts of at most
    ``size`` characters."""
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > size:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:size])
            line = line[size:]
        if current and len(current) + 1 + len(line) > size:
            parts.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current or not parts:
        parts.append(current)
    return parts
