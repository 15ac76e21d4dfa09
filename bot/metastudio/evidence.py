"""The look-ups that explain ended jobs: each job's detail (``show_script=true``: the
assets it uses), one summary of all their assets, and the full record of the few that
are not ACTIVED (the files' review). :func:`bot.domain.explain.explain` turns what is
found into reasons; a status reply and an announcement both call :func:`gather` once
for all their jobs, through the cached clients, so each asset is looked up once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .api import DetailsAPI
from .assets import Asset, AssetLookup, AssetSummary, ForgetsAssets
from .errors import NotFoundError
from .models import Job, JobDetail, asset_refs_of

log = logging.getLogger(__name__)

#: Full asset look-ups per call: a reply explains a few troubled assets, not hundreds.
MAX_ASSET_LOOKUPS = 8
#: Detail look-ups at once (each one request).
DETAIL_WORKERS = 8


@dataclass(frozen=True)
class Evidence:
    """What was found about one job: its detail (None: MetaStudio's detail operations
    do not know it), the summaries of the assets it names, and full records of those
    that are not ACTIVED."""

    detail: JobDetail | None
    summaries: Mapping[str, AssetSummary] = field(default_factory=dict)
    assets: Mapping[str, Asset] = field(default_factory=dict)


def gather(jobs: Sequence[Job], details: DetailsAPI, library: AssetLookup, *,
           refresh: bool = False,
           max_asset_lookups: int = MAX_ASSET_LOOKUPS) -> dict[str, Evidence]:
    """Evidence for each of ``jobs`` (by job id): one detail request per job (side by
    side), one summary request for all their assets (fewer through a cache), then
    ``show_asset`` for at most ``max_asset_lookups`` assets the summary shows unusable
    (an asset gone meanwhile is skipped). ``refresh`` reads details and assets afresh,
    past any cache. Any other
    :class:`~bot.metastudio.errors.MetaStudioError` is raised: the caller shows what it
    had without explanations."""
    wanted = [job for job in jobs if job.job_id]
    if not wanted:
        return {}
    found = _details(wanted, details, refresh)
    refs = {job.job_id: asset_refs_of(job, found.get(job.job_id)) for job in wanted}
    ids = list(dict.fromkeys(ref.asset_id for rs in refs.values() for ref in rs))
    if refresh and isinstance(library, ForgetsAssets):
        for asset_id in ids:  # Refresh: what the library says now, not a minute ago
            library.invalidate(asset_id)
    summaries = library.summaries(ids) if ids else {}
    troubled = [i for i in ids if (s := summaries.get(i)) is not None
                and s.asset_state is not None and not s.usable]
    records: dict[str, Asset] = {}
    for asset_id in troubled[: max(0, max_asset_lookups)]:
        try:
            records[asset_id] = library.asset(asset_id)
        except NotFoundError:
            log.info("asset %s was in the summary but show_asset does not know it", asset_id)
    return {
        job.job_id: Evidence(
            found.get(job.job_id),
            {r.asset_id: summaries[r.asset_id] for r in refs[job.job_id]
             if r.asset_id in summaries},
            {r.asset_id: records[r.asset_id] for r in refs[job.job_id]
             if r.asset_id in records},
        )
        for job in wanted
    }


def _details(jobs: Sequence[Job], details: DetailsAPI, refresh: bool) -> dict[str, JobDetail]:
    def one(job: Job) -> JobDetail | None:
        kind = None if job.job_type is None else str(job.job_type)
        return details.get_detail(job.job_id, job_type=kind, refresh=refresh)

    if len(jobs) == 1:
        answers = [one(jobs[0])]
    else:
        with ThreadPoolExecutor(max_workers=min(DETAIL_WORKERS, len(jobs))) as pool:
            answers = list(pool.map(one, jobs))
    return {job.job_id: detail for job, detail in zip(jobs, answers, strict=True)
            if detail is not None}
