"""The look-ups that explain ended jobs (bot/metastudio/evidence.py): one detail per
job, one summary for all their assets, full records only of the unusable ones, and
through the cached clients each asset once. Over the simulator."""

from __future__ import annotations

import pytest

from bot.metastudio.assets import AssetsAPI
from bot.metastudio.cache import CachedAssets
from bot.metastudio.errors import NotFoundError, UnavailableError
from bot.metastudio.evidence import gather
from bot.simulator.configs import FROZEN_MODEL


@pytest.fixture
def library(jobs_client) -> CachedAssets:
    plain = AssetsAPI.of(jobs_client)
    assert plain is not None
    return CachedAssets(plain)


def paths(simulator) -> list[str]:
    return [r.path.split("/", 3)[3] for r in simulator.requests]


def test_one_detail_a_job_one_summary_and_one_record_per_unusable_asset(
        simulator, jobs_client, library) -> None:
    frozen = simulator.add_job(state="BLOCK")
    failed = simulator.add_job(state="FAILED")
    jobs = list(jobs_client.get_jobs([frozen, failed]).values())
    simulator.requests.clear()

    found = gather(jobs, jobs_client, library)

    assert set(found) == {frozen, failed}
    evidence = found[frozen]
    assert evidence.detail is not None and evidence.detail.model_asset_id == FROZEN_MODEL
    assert evidence.summaries[FROZEN_MODEL].block_reason_code == "PORTRAIT_RIGHTS"
    assert set(evidence.assets) == {FROZEN_MODEL}
    assert FROZEN_MODEL not in found[failed].summaries and found[failed].assets == {}
    asked = sorted(paths(simulator))
    assert asked.count("digital-assets/summarys") == 1
    assert asked.count(f"digital-assets/{FROZEN_MODEL}") == 1
    assert sum(p.startswith("2d-digital-human-videos/") for p in asked) == 2


def test_a_second_look_is_answered_from_the_caches(simulator, jobs_client, library) -> None:
    jobs = list(jobs_client.get_jobs([simulator.add_job(state="BLOCK")]).values())
    gather(jobs, jobs_client, library)
    simulator.requests.clear()

    gather(jobs, jobs_client, library)
    assert simulator.requests == []

    gather(jobs, jobs_client, library, refresh=True)  # the Refresh button: all afresh
    asked = paths(simulator)
    assert len(asked) == 3 and "digital-assets/summarys" in asked


def test_full_records_are_bounded_and_a_gone_asset_is_skipped(simulator, jobs_client,
                                                             mocker) -> None:
    body = {"model_asset_id": "m-gone", "voice_config": {"voice_asset_id": "v-1"},
            "shoot_scripts": [{"shoot_script": {"background_config": [
                {"background_type": "IMAGE", "background_asset_id": f"bg-{i}"}
                for i in range(3)]}}]}
    job_id = simulator.add_job(state="FAILED", config=body)
    for asset_id in ("m-gone", "v-1", "bg-0", "bg-1", "bg-2"):
        simulator.add_asset(asset_id, state="DELETED")
    job = jobs_client.get_job(job_id)
    plain = AssetsAPI.of(jobs_client)
    real = plain.asset

    def show(asset_id: str):
        if asset_id == "m-gone":  # deleted between the summary and its look-up
            raise NotFoundError("gone", status=404)
        return real(asset_id)

    looked = mocker.patch.object(plain, "asset", side_effect=show)

    found = gather([job], jobs_client, plain, max_asset_lookups=2)[job_id]

    assert set(found.summaries) == {"m-gone", "v-1", "bg-0", "bg-1", "bg-2"}
    assert set(found.assets) == {"v-1"}
    assert [call.args[0] for call in looked.call_args_list] == ["m-gone", "v-1"]


def test_a_job_without_a_detail_is_looked_at_by_its_output(simulator, jobs_client,
                                                           library, mocker) -> None:
    job_id = simulator.add_job(state="FAILED")
    job = jobs_client.get_job(job_id)
    output = job.output_asset_config.asset_id
    simulator.add_asset(output, asset_type="VIDEO", state="BLOCK", block_reason_code="R")
    mocker.patch.object(simulator, "detail", return_value=None)  # no detail path knows it

    found = gather([job], jobs_client, library)[job_id]

    assert found.detail is None and found.summaries[output].block_reason_code == "R"


def test_failures_are_raised_for_the_caller(simulator, jobs_client, library) -> None:
    job = jobs_client.get_job(simulator.add_job(state="FAILED"))
    simulator.faults.fail_next(500, times=20)

    with pytest.raises(UnavailableError):
        gather([job], jobs_client, library)


def test_nothing_to_look_at_asks_nothing(simulator, jobs_client, library) -> None:
    assert gather([], jobs_client, library) == {}
    assert simulator.requests == []
