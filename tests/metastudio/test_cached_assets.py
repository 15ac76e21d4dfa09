"""The cached asset look-ups (bot/metastudio/cache.py, CachedAssets): one announcement
or status reply asks MetaStudio once per asset; a minute later it asks again; errors are
never kept. Over the simulator, on an injected clock."""

from __future__ import annotations

import pytest

from bot.metastudio.assets import AssetsAPI, AssetState
from bot.metastudio.cache import ASSET_TTL, CachedAssets
from bot.metastudio.errors import NotFoundError, UnavailableError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cached(jobs_client, clock) -> CachedAssets:
    plain = AssetsAPI.of(jobs_client)
    assert plain is not None
    return CachedAssets(plain, clock=clock)


def asset_requests(simulator) -> int:
    return sum(1 for r in simulator.requests if "/digital-assets" in r.path)


def test_summaries_are_asked_once_within_the_ttl(simulator, cached, clock) -> None:
    model = simulator.add_asset(state="BLOCK", block_reason_code="B1")

    first = cached.summaries([model, "absent"])
    clock.now += ASSET_TTL - 1
    again = cached.summaries(["absent", model])

    assert first == again and set(first) == {model}
    assert first[model].asset_state is AssetState.BLOCK
    assert asset_requests(simulator) == 1  # the absent id is remembered as absent too
    assert cached.stats().hits == 2 and cached.stats().misses == 2


def test_only_the_ids_not_seen_lately_are_asked(simulator, cached) -> None:
    seen, new = simulator.add_asset(), simulator.add_asset()
    cached.summaries([seen])

    assert set(cached.summaries([seen, new])) == {seen, new}

    asked = [r.body for r in simulator.requests]
    assert len(asked) == 2 and new.encode() in asked[1] and seen.encode() not in asked[1]


def test_after_the_ttl_the_state_is_read_again(simulator, cached, clock) -> None:
    model = simulator.add_asset()
    assert cached.summaries([model])[model].usable

    simulator.set_asset_state(model, "BLOCK", block_reason_code="B2")
    assert cached.summaries([model])[model].usable  # still the remembered answer
    clock.now += ASSET_TTL

    assert cached.summaries([model])[model].block_reason_code == "B2"
    assert asset_requests(simulator) == 2


def test_an_asset_is_kept_and_serves_its_summary(simulator, cached, clock) -> None:
    voice = simulator.add_asset(asset_type="VOICE_MODEL")
    simulator.fail_review(voice, "noise")

    asset = cached.asset(voice)
    assert cached.asset(voice) is asset
    assert cached.summaries([voice])[voice].asset_state is AssetState.FAILED
    assert asset_requests(simulator) == 1

    clock.now += ASSET_TTL
    cached.asset(voice)
    assert asset_requests(simulator) == 2


def test_errors_are_never_kept(simulator, cached) -> None:
    model = simulator.add_asset()
    simulator.faults.fail_next(500, times=4)  # every retry of the first call

    with pytest.raises(UnavailableError):
        cached.summaries([model])
    assert set(cached.summaries([model])) == {model}

    with pytest.raises(NotFoundError):
        cached.asset("nothing")
    simulator.add_asset("nothing")
    assert cached.asset("nothing").asset_id == "nothing"


def test_invalidate_forgets_one_or_all(simulator, cached) -> None:
    first, second = simulator.add_asset(), simulator.add_asset()
    cached.summaries([first, second])
    cached.asset(first)

    cached.invalidate(first)
    cached.summaries([first, second])
    cached.asset(first)
    assert asset_requests(simulator) == 4  # summary, asset, then first again (both ways)

    cached.invalidate()
    cached.summaries([second])
    assert asset_requests(simulator) == 5
