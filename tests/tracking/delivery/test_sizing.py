"""How messages are measured and cut (bot/tracking/delivery/sizing.py): text counted at
every depth and only in text strings, items packed into groups up to each limit, blocks
halved by their text, the plain text of blocks, and text cut at line ends (long lines
hard)."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import SectionBlock

from bot.tracking.delivery.sizing import (
    BLOCK_TEXT_BUDGET,
    MAX_BLOCKS,
    TEXT_PART,
    as_dict,
    halves,
    pack,
    plain_text,
    text_chars,
    text_parts,
)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def test_text_is_counted_at_every_depth_and_only_in_text_strings() -> None:
    block = {"type": "section", "text": {"type": "mrkdwn", "text": "abc"},
             "fields": [{"type": "mrkdwn", "text": "de"}, {"type": "plain_text", "text": "f"}],
             "accessory": {"type": "image", "alt_text": "not counted", "image_url": "u"}}
    context = {"type": "context", "elements": [{"type": "mrkdwn", "text": "ghij"}],
               "text": 12}
    assert text_chars(block) == 6
    assert text_chars([block, (context,)]) == 10
    assert text_chars(SectionBlock(text="klmno")) == 5
    # slack_sdk writes a section's fields before its text: both count.
    assert text_chars(SectionBlock(text="abc", fields=["de", "f"])) == 6
    # Every text string counts, wherever it comes in its dict.
    assert text_chars({"elements": [{"type": "mrkdwn", "text": "ghij"}], "text": "xy"}) == 6
    assert text_chars("text") == 0 and text_chars(None) == 0
    assert as_dict(SectionBlock(text="x", block_id="b1")) == {
        "type": "section", "block_id": "b1", "text": {"type": "mrkdwn", "text": "x"}}
    source = {"type": "divider"}
    copy = as_dict(source)
    assert copy == source and copy is not source


def _sized(blocks: int, chars: int) -> list[dict[str, Any]]:
    """``blocks`` sections with ``chars`` characters of text in all."""
    each, extra = divmod(chars, blocks)
    return [_section("x" * (each + (extra if i == 0 else 0))) for i in range(blocks)]


def test_packing_fills_groups_up_to_each_limit() -> None:
    def blocks_of(item: tuple[int, int]) -> list[dict[str, Any]]:
        return _sized(*item)

    assert MAX_BLOCKS == 50 and BLOCK_TEXT_BUDGET == 10_000
    assert pack([], blocks_of, max_items=5) == []
    # max_items
    three = [(1, 1)] * 3
    assert pack(three, blocks_of, max_items=2) == [[(1, 1)] * 2, [(1, 1)]]
    # blocks: exactly at the limit fits, one more does not
    assert pack([(25, 1), (25, 1), (1, 1)], blocks_of, max_items=9) == [
        [(25, 1), (25, 1)], [(1, 1)]]
    assert pack([(2, 1), (2, 1)], blocks_of, max_items=9, max_blocks=3) == [
        [(2, 1)], [(2, 1)]]
    # characters: the same
    assert pack([(1, 5_000), (1, 5_000), (1, 1)], blocks_of, max_items=9) == [
        [(1, 5_000), (1, 5_000)], [(1, 1)]]
    assert pack([(1, 6), (1, 5)], blocks_of, max_items=9, max_chars=10) == [
        [(1, 6)], [(1, 5)]]
    # an item too big alone gets its own group, and the next starts afresh
    assert pack([(60, 1), (49, 1), (1, 1), (1, 1)], blocks_of, max_items=9) == [
        [(60, 1)], [(49, 1), (1, 1)], [(1, 1)]]
    assert pack([(1, 12_000), (1, 9_999), (1, 1), (1, 1)], blocks_of, max_items=9) == [
        [(1, 12_000)], [(1, 9_999), (1, 1)], [(1, 1)]]


def test_halves_split_the_text_evenly_and_keep_a_block_on_each_side() -> None:
    a, b, c, d = (_section(t) for t in ("x" * 10, "x" * 10, "x" * 10, "x" * 10))
    assert halves([a, b, c, d]) == ([a, b], [c, d])
    big, small = _section("x" * 30), _section("x" * 1)
    assert halves([big, small, small]) == ([big], [small, small])
    assert halves([small, small, big]) == ([small, small], [big])
    assert halves([small, _section("x" * 2), big]) == ([small, _section("x" * 2)], [big])
    assert halves([a, b]) == ([a], [b])
    # Half the text exactly: the split comes after it, not a block early.
    nine, one, ten = _section("x" * 9), _section("x"), _section("x" * 10)
    assert halves([nine, one, ten]) == ([nine, one], [ten])
    empty = {"type": "divider"}
    assert halves([empty, empty, empty]) == ([empty], [empty, empty])
    assert halves([a]) == ([], [a])


def test_plain_text_joins_every_text_in_order() -> None:
    blocks = [
        SectionBlock(text="first"),
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "f1"},
                                       {"type": "plain_text", "text": "f2"}]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "second"}], "text": 3},
        {"type": "image", "alt_text": "skipped", "image_url": "u"},
    ]
    assert plain_text(blocks) == "first\nf1\nf2\nsecond"
    assert plain_text([]) == ""


def test_text_is_cut_at_line_ends_and_long_lines_hard() -> None:
    assert TEXT_PART == 3_000
    assert text_parts("") == [""]
    assert text_parts("short") == ["short"]
    assert text_parts("aaa\nbbb\nccc", size=7) == ["aaa\nbbb", "ccc"]
    assert text_parts("aaa\nbbbb", size=8) == ["aaa\nbbbb"]
    assert text_parts("aaa\nbbbbb", size=8) == ["aaa", "bbbbb"]
    assert text_parts("ab\n" + "x" * 10 + "\ncd", size=4) == ["ab", "xxxx", "xxxx", "xx", "cd"]
    assert text_parts("ab\n" + "x" * 7 + "\ncd", size=5) == ["ab", "xxxxx", "xx\ncd"]
    assert text_parts("x" * 8, size=4) == ["xxxx", "xxxx"]
    assert text_parts("x" * 3_001) == ["x" * 3_000, "x"]
    assert text_parts("a\n\nb", size=10) == ["a\n\nb"]
