"""``status`` explains failed, blocked and canceled jobs (bot/commands/router.py): one
look-up of their details and assets through the cached clients, only for those jobs;
a look-up that fails leaves the cards as they were, logged. The cards are answered
first, after the list read; the explanations follow and replace them (``shown`` here is
the answer as it ends up). Over the simulator."""

from __future__ import annotations

import logging

import pytest

from bot.commands.router import Router
from bot.metastudio.assets import AssetsAPI
from bot.metastudio.cache import CachedAssets
from bot.simulator.configs import FROZEN_MODEL
from bot.views import actions
from tests.commands.test_router import UTC_USER, final
from tests.commands.test_router import shown as shown_now


@pytest.fixture
def library(jobs_client) -> CachedAssets:
    plain = AssetsAPI.of(jobs_client)
    assert plain is not None
    return CachedAssets(plain)


@pytest.fixture
def router(jobs_client, library) -> Router:
    return Router(jobs_client, assets=library)


def shown(reply) -> str:
    """What the console shows once the answer's follow-up replaced it."""
    return shown_now(final(reply))


def asset_requests(simulator) -> list[str]:
    return [r.path for r in simulator.requests if "/digital-assets" in r.path]


def detail_requests(simulator) -> list[str]:
    return [r.path for r in simulator.requests if "-digital-human-videos/" in r.path]


def test_a_blocked_job_says_its_model_is_frozen(simulator, router) -> None:
    frozen = simulator.add_job(state="BLOCK", asset_name="Quarterly")

    text = shown(router.handle(f"status {frozen}", UTC_USER))

    assert "Why:" in text
    assert (f"Model asset Dora (2D model) ({FROZEN_MODEL}) is frozen (BLOCK), block reason "
            "PORTRAIT_RIGHTS") in text


def test_a_failed_job_says_its_voice_failed_review(simulator, router) -> None:
    failed = simulator.add_job(state="FAILED", config={
        "model_asset_id": "sim-model-anna", "voice_config": {"voice_asset_id": "v-new"}})
    simulator.add_asset("v-new", name="New voice", asset_type="VOICE_MODEL")
    simulator.fail_review("v-new", "the sample is not the speaker")

    text = shown(router.handle(f"status {failed}", UTC_USER))

    assert ("Voice asset New voice (v-new) failed manual review: the sample is not the "
            "speaker") in text
    assert text.index("Error:") < text.index("Why:") < text.index("Next step:")


def test_a_canceled_job_says_what_metastudio_said(simulator, router) -> None:
    canceled = simulator.add_job(state="WAITING")
    simulator.set_state(canceled, "CANCELED", error_msg="Canceled by the tenant admin")

    assert "MetaStudio says: Canceled by the tenant admin" in shown(
        router.handle(f"status {canceled}", UTC_USER))


def test_only_ended_jobs_are_looked_up_and_all_at_once(simulator, router) -> None:
    ok = simulator.add_job(state="SUCCEED")
    running = simulator.add_job(state="PROCESSING")
    ended = [simulator.add_job(state=s) for s in ("FAILED", "BLOCK", "CANCELED")]

    first = router.handle(f"status {ok} {running} {' '.join(ended)}", UTC_USER)

    # The cards go out after the list read alone; the look-ups come with the follow-up.
    assert detail_requests(simulator) == [] and asset_requests(simulator) == []
    assert all(job_id in shown_now(first) for job_id in (ok, running, *ended))
    assert "Why:" in shown(first)

    assert sorted(detail_requests(simulator)) == sorted(
        f"/v1/proj-1/2d-digital-human-videos/{job_id}" for job_id in ended)
    asked = asset_requests(simulator)
    assert asked.count("/v1/proj-1/digital-assets/summarys") == 1
    assert asked.count(f"/v1/proj-1/digital-assets/{FROZEN_MODEL}") == 1


def test_jobs_that_all_went_well_cost_no_look_up(simulator, router) -> None:
    jobs = [simulator.add_job(state="SUCCEED"), simulator.add_job(state="WAITING")]

    text = shown(router.handle(f"status {' '.join(jobs)}", UTC_USER))

    assert "Why:" not in text
    assert asset_requests(simulator) == [] and detail_requests(simulator) == []


def test_a_job_with_usable_assets_says_nothing_more(simulator, router) -> None:
    failed = simulator.add_job(state="FAILED")

    text = shown(router.handle(f"status {failed}", UTC_USER))

    assert "Why:" not in text and "Error:" in text
    assert asset_requests(simulator) == ["/v1/proj-1/digital-assets/summarys"]


def test_the_same_status_again_asks_nothing_again(simulator, router) -> None:
    frozen = simulator.add_job(state="BLOCK")
    final(router.handle(f"status {frozen}", UTC_USER))
    before = len(simulator.requests)

    again = shown(router.handle(f"status {frozen}", UTC_USER))

    assert "frozen (BLOCK)" in again and len(simulator.requests) == before


def test_refresh_reads_the_assets_again(simulator, router) -> None:
    frozen = simulator.add_job(state="BLOCK")
    final(router.handle(f"status {frozen}", UTC_USER))
    simulator.set_asset_state(FROZEN_MODEL, "ACTIVED")

    reply = router.handle_action(actions.REFRESH, frozen, UTC_USER)

    assert "Why:" not in shown(reply)
    simulator.set_asset_state(FROZEN_MODEL, "BLOCK", block_reason_code="PORTRAIT_RIGHTS")


def test_a_failed_look_up_leaves_the_card_as_it_was(simulator, jobs_client, router,
                                                    caplog) -> None:
    frozen = simulator.add_job(state="BLOCK", asset_name="Quarterly")
    plain = shown(Router(jobs_client).handle(f"status {frozen}", UTC_USER))
    simulator.faults.fail_next(500, times=50)  # the job is cached: every look-up fails
    caplog.set_level(logging.INFO, logger="bot.commands.router")

    text = shown(router.handle(f"status {frozen}", UTC_USER))

    assert text == plain and "Why:" not in text
    assert "could not look up why 1 job(s) ended" in caplog.text


def test_without_an_asset_client_nothing_is_looked_up(simulator, jobs_client) -> None:
    frozen = simulator.add_job(state="BLOCK")

    reply = Router(jobs_client).handle(f"status {frozen}", UTC_USER)

    assert reply.followup is None
    assert asset_requests(simulator) == [] and detail_requests(simulator) == []
