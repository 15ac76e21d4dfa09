"""The poller's watermarks (bot/tracking/polling/watermark.py): one moment per key, only
ever moved forward, written in the caller's transaction and undone with it; a script
listing's key is named after the script and fits the column."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.tracking.polling.watermark import ACTIVE_CHECKED, DISCOVERY, PollState, script_discovery
from bot.tracking.store.database import Store
from tests.fixtures.tracking import T0


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
