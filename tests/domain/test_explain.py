"""Why a job ended (bot/domain/explain.py): pure, from a job, its detail, its assets'
summaries and full records. Every reason kind, what is left unsaid, order and limit."""

from __future__ import annotations

import pytest

from bot.domain.explain import MAX_REASONS, Reason, asset_problems, explain
from bot.metastudio.assets import Asset, AssetSummary
from bot.metastudio.models import AssetRef, AssetRole, Job, JobDetail

DETAIL = {
    "job_id": "j1", "state": "FAILED", "job_type": "2D_DIGITAL_HUMAN_VIDEO",
    "error_info": {"error_code": "MSS.10001001", "error_msg": "Asset not found"},
    "model_asset_id": "m1", "voice_config": {"voice_asset_id": "v1"},
    "background_music_config": {"music_asset_id": "mu1"},
    "output_asset_config": {"asset_id": "out1", "asset_name": "Quarterly"},
}


def job(state: str = "FAILED", **extra) -> Job:
    return Job.model_validate({**DETAIL, "state": state, **extra})


def detail(state: str = "FAILED", **extra) -> JobDetail:
    return JobDetail.model_validate({**DETAIL, "state": state, **extra})


def summary(asset_id: str, state: str, **extra) -> AssetSummary:
    return AssetSummary.model_validate({"asset_id": asset_id, "asset_state": state, **extra})


def summaries(*rows: AssetSummary) -> dict[str, AssetSummary]:
    return {row.asset_id: row for row in rows}


def asset(asset_id: str, state: str, **extra) -> Asset:
    return Asset.model_validate({"asset_id": asset_id, "asset_state": state, **extra})


def lines(reasons) -> list[str]:
    return [reason.sentence() for reason in reasons]


def test_a_frozen_model_is_said_with_its_block_reason() -> None:
    found = explain(job(), detail(), summaries(
        summary("m1", "BLOCK", asset_name="Anna", block_reason_code="PORTRAIT_RIGHTS"),
        summary("v1", "ACTIVED"), summary("mu1", "ACTIVED"), summary("out1", "FAILED")))

    assert found == (Reason("asset_state", AssetRole.MODEL, "m1", "Anna", "BLOCK",
                            code="PORTRAIT_RIGHTS"),)
    assert lines(found) == [
        "Model asset Anna (m1) is frozen (BLOCK), block reason PORTRAIT_RIGHTS"]


def test_a_voice_that_failed_review_is_said_with_the_reviews_words() -> None:
    voice = asset("v1", "FAILED", asset_name="Narrator", fail_type="MANUAL_REVIEW_REJECT",
                  files=[{"state": "FAILED", "reason": "background noise"},
                         {"state": "CREATED"}])

    found = explain(job(), detail(), summaries(summary("v1", "FAILED")), {"v1": voice})

    assert lines(found) == ["Voice asset Narrator (v1) failed manual review: "
                            "background noise"]


@pytest.mark.parametrize(("files", "extra", "said"), [
    ([{"state": "FAILED", "fail_type": "AUTOMATIC_REVIEW_REJECT"}], {"reason": "nudity"},
     "Voice asset v1 failed automatic review: nudity"),
    ([], {"fail_type": "MANUAL_REVIEW_REJECT", "reason": "copyright"},
     "Voice asset v1 failed manual review: copyright"),
    ([{"state": "BLOCK", "block_reason_code": "F9"}], {},
     "Voice asset v1 has a frozen file (block reason F9)"),
    ([{"state": "FAILED"}], {"fail_type": "SOMETHING_NEW"}, "Voice asset v1 failed review"),
])
def test_files_and_reviews(files, extra, said) -> None:
    voice = asset("v1", "FAILED", files=files, **extra)

    assert lines(explain(job(), detail(), {}, {"v1": voice})) == [said]


@pytest.mark.parametrize(("state", "said"), [
    ("FAILED", "failed (FAILED)"), ("DELETED", "was deleted (DELETED)"),
    ("UNACTIVED", "is not active (UNACTIVED)"), ("CREATING", "is still being created"),
    ("WAITING_DELETE", "is due to be taken offline"), ("DELETING", "is being deleted"),
    ("MELTED", "is MELTED"),
])
def test_every_unusable_state_is_said(state, said) -> None:
    [line] = lines(explain(job(), detail(), summaries(summary("mu1", state))))
    assert line.startswith("Background music asset mu1 ") and said in line


def test_nothing_known_says_nothing() -> None:
    assert explain(job(), detail(), {}) == ()
    assert explain(job(), detail(), summaries(summary("m1", "ACTIVED"),
                                             summary("v1", None))) == ()
    assert explain(job(), None, {}) == ()


@pytest.mark.parametrize("state", ["SUCCEED", "WAITING", "PROCESSING", "ARCHIVED", None])
def test_only_ended_jobs_are_explained(state) -> None:
    blocked = summaries(summary("m1", "BLOCK"))
    assert explain(job(state), detail(), blocked) == ()


def test_a_failed_jobs_output_failing_too_is_no_news_but_a_frozen_one_is() -> None:
    assert explain(job(), detail(), summaries(summary("out1", "FAILED"))) == ()
    assert explain(job(), detail(), summaries(summary("out1", "CREATING"))) == ()

    frozen = explain(job(), detail(), summaries(summary("out1", "BLOCK", asset_name="Q",
                                                        block_reason_code="R1")))
    assert lines(frozen) == ["Output asset Q (out1) is frozen (BLOCK), block reason R1"]

    rejected = asset("out1", "FAILED", files=[{"state": "FAILED", "reason": "logo"}])
    assert lines(explain(job(), detail(), {}, {"out1": rejected})) == [
        "Output asset out1 failed review: logo"]


def test_without_a_detail_only_the_output_is_looked_at() -> None:
    found = explain(job(), None, summaries(summary("m1", "BLOCK"), summary("out1", "BLOCK")))
    assert [r.role for r in found] == [AssetRole.OUTPUT]


def test_metastudios_word_on_a_blocked_or_canceled_job_comes_first() -> None:
    said = {"error_info": {"error_code": "MSS.X", "error_msg": "Reported <content>"}}
    blocked = explain(job("BLOCK", **said), detail("BLOCK", **said),
                      summaries(summary("m1", "BLOCK")))

    assert [r.kind for r in blocked] == ["job", "asset_state"]
    assert lines(blocked)[0] == "MetaStudio says: MSS.X Reported <content>"

    canceled = explain(job("CANCELED", error_info=None, block_reason="by admin"), None, {})
    assert lines(canceled) == ["MetaStudio says: by admin"]
    # A failure's error_info is the card's own error line: not said twice.
    assert explain(job("FAILED"), detail("FAILED"), {}) == ()


def test_a_card_says_a_few_things_in_the_jobs_order() -> None:
    many = detail(shoot_scripts=[{"shoot_script": {
        "background_config": [{"background_asset_id": f"bg{i}"} for i in range(6)]}}])
    rows = summaries(*(summary(f"bg{i}", "DELETED") for i in range(6)),
                     summary("m1", "BLOCK"))

    found = explain(job(), many, rows)

    assert len(found) == MAX_REASONS
    assert [r.asset_id for r in found] == ["m1", "bg0", "bg1", "bg2"]
    assert explain(job(), many, rows, limit=1) == found[:1]
    assert explain(job(), many, rows, limit=0) == ()


def test_sentences_take_the_views_formatting() -> None:
    reason = Reason("asset_state", AssetRole.VOICE, "v1", "A <b>", "BLOCK", code="C1",
                    detail="why")

    said = reason.sentence(ident=lambda s: f"`{s}`", text=str.upper)

    assert said == "Voice asset A <B> (`v1`) is frozen (BLOCK), block reason `C1`: WHY"
    assert Reason("asset_state", None, None).sentence() == "Asset ? is UNKNOWN"


def test_asset_problems_leave_out_the_output_and_the_unknown() -> None:
    refs = [AssetRef(AssetRole.MODEL, "m1"), AssetRef(AssetRole.VOICE, "v1"),
            AssetRef(AssetRole.OUTPUT, "out1"), AssetRef(AssetRole.MUSIC, "mu1")]
    rows = summaries(summary("m1", "BLOCK", block_reason_code="B"), summary("v1", "ACTIVED"),
                     summary("out1", "BLOCK"), summary("mu1", None))

    assert asset_problems(refs, rows) == (
        Reason("asset_state", AssetRole.MODEL, "m1", None, "BLOCK", code="B"),)
