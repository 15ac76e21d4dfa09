"""What mutation testing of the tracking's small parts found unchecked (bench/MUTATION.md,
"session 3"): the watermark rows, the active set's rows, the plain messenger seen as a
marking one, retention's boundaries, and how messages are measured and cut."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from slack_sdk.models.blocks import SectionBlock

from bot.metastudio.models import Job
from bot.serve.demo import ConsoleMessenger
from bot.slack.messenger import SlackMessenger
from bot.tracking.delivery.marking import MarkedMessenger, UnmarkedMessenger, as_marked
from bot.tracking.delivery.outbox import Outbox
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
from bot.tracking.polling.active import ActiveSet, WatchedJob
from bot.tracking.polling.watermark import ACTIVE_CHECKED, DISCOVERY, PollState, script_discovery
from bot.tracking.store.database import Store
from bot.tracking.store.retention import BATCH, RECEIPT_KEEP, Pruned, prune
from bot.tracking.store.tables import callback_receipts, outbox, seen_outcomes, tracked_jobs
from tests.fakes.slack import FakeSlack
from tests.fixtures.tracking import T0

# -- watermark ---------------------------------------------------------------------------


def test_a_script_listings_key_is_named_after_the_script_and_fits_the_column() -> None:
    assert script_discovery("s-1") == "script:s-1"
    long = script_discovery("x" * 100)
    assert long == "script:" + "x" * 57 and len(long) == 64


def test_moments_are_per_key_and_only_move_forward(store: Store) -> None:
    state = PollState(store)
    state.advance(DISCOVERY, T0)
    state.advance(ACTIVE_CHECKED, T0 - timedelta(hours=1))
    state.advance(DISCOVERY, T0 + timedelta(minutes=5))
    assert state.get(DISCOVERY) == T0 + timedelta(minutes=5)
    assert state.get(ACTIVE_CHECKED) == T0 - timedelta(hours=1)
    state.advance(ACTIVE_CHECKED, T0)
    assert state.get(DISCOVERY) == T0 + timedelta(minutes=5)
    assert state.get(ACTIVE_CHECKED) == T0
    assert state.get("pruned") is None


def test_a_moment_advanced_in_a_transaction_is_undone_with_it(store: Store) -> None:
    state = PollState(store)
    state.advance(DISCOVERY, T0)
    with pytest.raises(RuntimeError), store.begin() as conn:
        state.advance(DISCOVERY, T0 + timedelta(minutes=1), conn)
        state.advance(ACTIVE_CHECKED, T0, conn)
        # The caller's transaction sees its own writes.
        assert state.get(DISCOVERY, conn) == T0 + timedelta(minutes=1)
        assert state.get(ACTIVE_CHECKED, conn) == T0
        raise RuntimeError("the page failed to record")
    assert state.get(DISCOVERY) == T0
    assert state.get(ACTIVE_CHECKED) is None
    with store.begin() as conn:
        state.advance(DISCOVERY, T0 + timedelta(minutes=2), conn)
    assert state.get(DISCOVERY) == T0 + timedelta(minutes=2)


# -- the active set ------------------------------------------------------------------------


def _job(job_id: str, **fields: Any) -> Job:
    return Job.model_validate({"job_id": job_id, "state": "PROCESSING", **fields})


def test_watching_stores_what_the_poller_needs_and_learns_a_script_once(store: Store) -> None:
    active = ActiveSet(store)
    job = _job("j1", job_type="PHOTO_DIGITAL_HUMAN_VIDEO", create_time="2025-03-01T08:00:00Z",
               output_asset_config={"asset_name": "promo"})
    with store.begin() as conn:
        assert active.watch(conn, job, T0) is True
        assert active.watch(conn, _job("j2", state="WAITING"), T0, script_id="s2") is True
    with store.begin() as conn:
        assert active.get(conn, "j1") == WatchedJob(
            job_id="j1", create_time=T0 - timedelta(hours=1),
            job_type="PHOTO_DIGITAL_HUMAN_VIDEO", asset_name="promo", script_id=None,
            last_state="PROCESSING", discovered_at=T0)
        assert active.get(conn, "j2") == WatchedJob(
            job_id="j2", create_time=None, job_type=None, asset_name=None, script_id="s2",
            last_state="WAITING", discovered_at=T0)
        assert active.get(conn, "nope") is None
        # Seen again by a script listing: the script is learnt, nothing else changes.
        assert active.watch(conn, _job("j1", state="WAITING"), T0 + timedelta(hours=1),
                            script_id="s1") is False
        assert active.watch(conn, _job("j2"), T0, script_id="s3") is False  # kept
        assert active.watch(conn, _job("j2"), T0) is False
    with store.begin() as conn:
        j1, j2 = active.get(conn, "j1"), active.get(conn, "j2")
    assert j1 is not None and j2 is not None
    assert (j1.script_id, j1.last_state, j1.discovered_at) == ("s1", "PROCESSING", T0)
    assert j2.script_id == "s2"


def test_the_active_set_lists_counts_and_forgets_by_id(store: Store) -> None:
    active = ActiveSet(store)
    with store.begin() as conn:
        # Inserted newest first: the listing sorts them.
        active.watch(conn, _job("b", create_time="2025-03-01T08:00:00Z"), T0)
        active.watch(conn, _job("z", create_time="2025-03-01T07:00:00Z"), T0)
        active.watch(conn, _job("a", create_time="2025-03-01T08:00:00Z"), T0)
    assert [w.job_id for w in active.all()] == ["z", "a", "b"]
    assert sorted(active.ids()) == [("a", T0 - timedelta(hours=1)),
                                    ("b", T0 - timedelta(hours=1)),
                                    ("z", T0 - timedelta(hours=2))]
    assert active.get_many([]) == {}
    many = active.get_many(["a", "z", "nope"])
    assert sorted(many) == ["a", "z"] and many["z"].create_time == T0 - timedelta(hours=2)
    assert active.count() == 3
    with store.begin() as conn:
        assert active.forget(conn, "a") is True
        assert active.forget(conn, "a") is False
    assert sorted(active.get_many(["a", "b", "z"])) == ["b", "z"]
    assert active.count() == 2


def test_state_changes_touch_only_the_jobs_named(store: Store) -> None:
    active = ActiveSet(store)
    with store.begin() as conn:
        for job_id in ("a", "b", "c"):
            active.watch(conn, _job(job_id, state="WAITING"), T0)
    active.set_states([])
    active.set_states(iter([("a", "PROCESSING"), ("c", "STUCK")]))
    assert {w.job_id: w.last_state for w in active.all()} == {
        "a": "PROCESSING", "b": "WAITING", "c": "STUCK"}


# -- marking -----------------------------------------------------------------------------


def test_a_plain_messenger_is_wrapped_and_a_marking_one_used_as_it_is(
    fake_slack: FakeSlack, messenger: SlackMessenger,
) -> None:
    assert as_marked(messenger) is messenger
    plain = ConsoleMessenger.__new__(ConsoleMessenger)
    wrapped = as_marked(plain)
    assert isinstance(wrapped, UnmarkedMessenger) and wrapped.inner is plain
    assert isinstance(wrapped, MarkedMessenger)


def test_an_unmarked_messenger_posts_everything_but_the_marker_and_finds_nothing(
    fake_slack: FakeSlack, messenger: SlackMessenger,
) -> None:
    unmarked = UnmarkedMessenger(messenger)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "body"}}]
    top = unmarked.post("C1", text="hello", blocks=blocks, marker="sub:C1:j1:FAILED")
    reply = unmarked.post("C1", text="reply", thread_ts=top, reply_broadcast=True)
    plain = unmarked.post("C1", text="plain")
    quiet = unmarked.post("C1", text="quiet", thread_ts=top)
    first, second, third, fourth = fake_slack.posts("C1")
    assert (first.ts, first.text, first.blocks, first.thread_ts, first.metadata) == (
        top, "hello", blocks, None, None)
    assert (second.ts, second.thread_ts, second.reply_broadcast) == (reply, top, True)
    assert (third.ts, third.reply_broadcast, third.blocks) == (plain, False, None)
    assert (fourth.ts, fourth.thread_ts, fourth.reply_broadcast) == (quiet, top, False)
    edited = [_section_block("new body")]
    unmarked.update("C1", top, text="edited", blocks=edited)
    unmarked.update("C1", plain, text="edited too")
    assert (fake_slack.posts("C1")[0].text, fake_slack.posts("C1")[0].blocks) == (
        "edited", edited)
    assert fake_slack.posts("C1")[2].text == "edited too"
    assert unmarked.marked("C1") == {}
    assert unmarked.marked("C1", thread_ts=top, oldest=T0) == {}


def _section_block(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


# -- retention -----------------------------------------------------------------------------

WEEK = timedelta(days=7)
CUT = T0 - WEEK


def _sent(store: Store, key: str, at: Any, *, status: str = "sent") -> int:
    with store.begin() as conn:
        Outbox(store).enqueue(conn, kind="sub", channel="C1", dedupe_key=key, payload={},
                              now=at)
        conn.execute(outbox.update().where(outbox.c.dedupe_key == key).values(
            status=status, sent_at=at))
        return conn.execute(sa.select(outbox.c.id).where(outbox.c.dedupe_key == key)
                            ).scalar_one()


def _keys(store: Store) -> list[str]:
    return sorted(r.dedupe_key for r in Outbox(store).rows())


def test_retention_keeps_rows_of_exactly_the_cut_and_newer(store: Store) -> None:
    second = timedelta(seconds=1)
    _sent(store, "older", CUT - second)
    _sent(store, "at-cut", CUT)
    _sent(store, "failed-old", CUT - second, status="failed")
    sub, _ = store.add_subscription("C1", outcome="all", job_type=None, asset_name=None,
                                    script_id=None, created_by="U1", now=CUT - WEEK)
    with store.begin() as conn:
        store.mark_seen(conn, sub.id, "old", "FAILED", CUT - second)
        store.mark_seen(conn, sub.id, "cut", "FAILED", CUT)
        conn.execute(callback_receipts.insert(), [
            {"secret": "old", "received_at": T0 - RECEIPT_KEEP - second},
            {"secret": "cut", "received_at": T0 - RECEIPT_KEEP},
        ])
    pruned = prune(store, now=T0, retention=WEEK)
    assert (pruned.outbox, pruned.tracked, pruned.seen, pruned.receipts) == (1, 0, 1, 1)
    assert _keys(store) == ["at-cut", "failed-old"]
    assert store.seen([sub.id], ["old", "cut"]) == {(sub.id, "cut", "FAILED")}
    with store.begin() as conn:
        assert list(conn.execute(sa.select(callback_receipts.c.secret)).scalars()) == ["cut"]
        assert len(list(conn.execute(sa.select(seen_outcomes)))) == 1


def _tracked(store: Store, message: str, *jobs: tuple[str, Any, Any]) -> None:
    """A tracking message with ``(job_id, created_at, closed_at or "open")`` rows;
    ``closed_at`` None is a closed row from before ``closed_at`` was recorded."""
    for job_id, created, closed in jobs:
        store.add_tracked("C1", [(job_id, "WAITING", created)], message_ts=message,
                          requested_by="U1", now=created)
        if closed != "open":
            with store.begin() as conn:
                conn.execute(tracked_jobs.update().where(tracked_jobs.c.job_id == job_id)
                             .values(closed=True, closed_at=closed, last_state="SUCCEED"))


def _messages(store: Store) -> list[str]:
    with store.begin() as conn:
        return sorted(set(conn.execute(sa.select(tracked_jobs.c.message_ts)).scalars()))


def test_a_tracking_message_is_pruned_when_every_job_closed_before_the_cut(
    store: Store,
) -> None:
    long_ago, second = CUT - WEEK, timedelta(seconds=1)
    _tracked(store, "1.gone", ("a", long_ago, CUT - second), ("b", long_ago, None))
    _tracked(store, "2.closed-at-cut", ("c", long_ago, CUT - second), ("d", long_ago, CUT))
    _tracked(store, "3.open", ("e", long_ago, CUT - second), ("f", long_ago, "open"))
    _tracked(store, "4.legacy-new", ("g", long_ago, CUT - second), ("h", CUT, None))
    _tracked(store, "5.legacy-old", ("i", CUT - second, None))
    _tracked(store, "6.at-cut", ("j", long_ago, CUT))
    _tracked(store, "7.legacy-at-cut", ("k", CUT, None))
    assert prune(store, now=T0, retention=WEEK).tracked == 3  # a, b and i
    assert _messages(store) == ["2.closed-at-cut", "3.open", "4.legacy-new", "6.at-cut",
                                "7.legacy-at-cut"]


def test_a_tracking_message_of_another_channel_with_the_same_ts_does_not_keep_it(
    store: Store,
) -> None:
    long_ago = CUT - WEEK
    store.add_tracked("C1", [("a", "WAITING", long_ago)], message_ts="1.1",
                      requested_by="U1", now=long_ago)
    store.add_tracked("C2", [("b", "WAITING", long_ago)], message_ts="1.1",  # still open
                      requested_by="U1", now=long_ago)
    with store.begin() as conn:
        conn.execute(tracked_jobs.update().where(tracked_jobs.c.job_id == "a").values(
            closed=True, closed_at=long_ago))
    assert prune(store, now=T0, retention=WEEK).tracked == 1
    assert store.in_message("C1", "1.1") == []
    assert [j.job_id for j in store.in_message("C2", "1.1")] == ["b"]


def test_a_digest_goes_after_its_members_and_not_while_one_is_kept(store: Store) -> None:
    ob = Outbox(store)
    old = CUT - timedelta(days=1)
    ids = {key: _sent(store, key, old, status="pending") for key in ("m1", "m2", "m3")}
    with store.begin() as conn:
        conn.execute(outbox.update().where(outbox.c.id.in_(list(ids.values()))).values(
            sent_at=None))
    members = ob.claim("me", now=old, lease=timedelta(minutes=1))
    digest = ob.form_digest("me", members, now=old, lease=timedelta(minutes=1))
    assert digest is not None and ob.mark_sent(digest, "me", "1.1", now=old)
    # One member is still kept (sent later): its digest must stay with it.
    with store.begin() as conn:
        conn.execute(outbox.update().where(outbox.c.id == ids["m3"]).values(sent_at=T0))
    _sent(store, "alone", old)
    pruned = prune(store, now=T0, retention=WEEK, batch=1)
    assert pruned.outbox == 3  # two members and the lone row, not the digest
    assert sorted(r.kind for r in ob.rows()) == ["digest", "sub"]


def test_retention_deletes_in_batches_and_logs_only_when_it_did(
    store: Store, caplog: pytest.LogCaptureFixture,
) -> None:
    for i in range(7):
        _sent(store, f"k{i}", CUT - timedelta(days=1))
    deletes: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM OUTBOX"):
            deletes.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", count)
    with caplog.at_level(logging.INFO, logger="bot.tracking.store.retention"):
        assert prune(store, now=T0, retention=WEEK, batch=3).outbox == 7
        assert prune(store, now=T0, retention=WEEK, batch=3) == Pruned()
    sa.event.remove(store.engine, "before_cursor_execute", count)
    assert len(deletes) == 3  # 3 + 3 + 1 rows, each batch its own statement
    assert [r.getMessage() for r in caplog.records if r.name == "bot.tracking.store.retention"] == [
        "retention: pruned 7 outbox, 0 tracked, 0 seen, 0 callback rows"]
    for i in range(3):
        _sent(store, f"again{i}", CUT - timedelta(days=1))
    assert prune(store, now=T0, retention=WEEK, batch=3).outbox == 3
    assert BATCH == 5_000 and prune(store, now=T0, retention=WEEK).total == 0


def test_pruned_totals_every_kind() -> None:
    assert Pruned(outbox=1, tracked=20, seen=300, receipts=4000).total == 4321
    assert Pruned().total == 0


# -- sizing ------------------------------------------------------------------------------


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
