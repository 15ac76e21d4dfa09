"""MetaStudio's asset library, read: one asset, and a batch of summaries.

    GET  /v1/{project_id}/digital-assets/{asset_id}      (SDK ``show_asset``)
    POST /v1/{project_id}/digital-assets/summarys        (SDK ``list_asset_summary``)

The summary is a POST that only reads (body ``{"asset_ids": [...]}``, answer
``asset_list[]``): repeating it changes nothing, so the transport retries it as it
retries a GET (the client names its path in ``Transport(retry_posts=...)``). What a
job needs from the library (its model, voice, music, backgrounds, output video) and why
an asset may be unusable (a state other than ACTIVED, a frozen or rejected file) is in
docs/metastudio-api.md, "Assets". Models are tolerant like :mod:`bot.metastudio.models`:
every field optional, unknown fields kept, unknown states kept as text.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Annotated, Any, Protocol, runtime_checkable
from urllib.parse import quote

from pydantic import BeforeValidator, Field, ValidationError

from .errors import BadResponseError
from .models import Text, Time, _lenient_text, _objects, _open_enum, _Tolerant
from .transport import Transport

log = logging.getLogger(__name__)

#: Ids per summary request. The SDK documents no limit for ``asset_ids`` and the API
#: reference gives none; MetaStudio's list operations cap a page at 100 items, so half
#: of that stays clear of any such cap while a status reply's assets (20 jobs, a few
#: assets each) still take only a couple of requests.
SUMMARY_BATCH = 50


def summary_path(project_id: str) -> str:
    """The summary's path, for ``Transport(retry_posts=...)``."""
    return f"/v1/{quote(project_id, safe='')}/digital-assets/summarys"


class AssetState(StrEnum):
    """``asset_state`` (docs/metastudio-api.md, "Assets"); only ACTIVED assets can be used
    by other services, a video job included."""

    CREATING = "CREATING"
    FAILED = "FAILED"
    UNACTIVED = "UNACTIVED"
    ACTIVED = "ACTIVED"
    DELETING = "DELETING"
    DELETED = "DELETED"
    BLOCK = "BLOCK"
    WAITING_DELETE = "WAITING_DELETE"


class FileState(StrEnum):
    """``files[].state``: CREATED passed automatic review, UPLOADED awaits it, REVIEW is in
    manual review, FAILED was rejected (``reason`` says why), BLOCK is frozen."""

    CREATING = "CREATING"
    CREATED = "CREATED"
    UPLOADED = "UPLOADED"
    REVIEW = "REVIEW"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    DELETING = "DELETING"
    DELETED = "DELETED"
    BLOCK = "BLOCK"


StateOfAsset = Annotated[AssetState | str | None, BeforeValidator(_open_enum(AssetState))]
StateOfFile = Annotated[FileState | str | None, BeforeValidator(_open_enum(FileState))]


class AssetSummary(_Tolerant):
    """One row of ``asset_list``: the summary's name and state of an asset."""

    asset_id: Annotated[str, BeforeValidator(lambda v: _lenient_text(v) or "")] = ""
    asset_name: Text = None
    asset_state: StateOfAsset = None
    asset_type: Text = None
    #: Why the asset is frozen; the SDK lists no codes: shown as it is.
    block_reason_code: Text = None
    cover_url: Text = None
    thumbnail_url: Text = None

    @property
    def usable(self) -> bool:
        """ACTIVED: the only state a video job may use."""
        return self.asset_state == AssetState.ACTIVED


class AssetFile(_Tolerant):
    """One of ``files[]`` (``AssetFileInfo``)."""

    file_id: Text = None
    file_name: Text = None
    file_type: Text = None
    #: MAIN, COVER, PAGE, SAMPLE, OTHER, TEMPORARY, PACKAGE.
    asset_file_category: Text = None
    #: Valid for 24 hours from the answer.
    download_url: Text = None
    state: StateOfFile = None
    block_reason_code: Text = None
    #: Why review failed (free text).
    reason: Text = None
    #: AUTOMATIC_REVIEW_REJECT or MANUAL_REVIEW_REJECT, where given.
    fail_type: Text = None


class Asset(_Tolerant):
    """One asset (``ShowAssetResponse``): the summary's fields, the review's verdict and
    the files. A frozen (BLOCK) asset's files are hidden, so ``files`` may be empty."""

    asset_id: Annotated[str, BeforeValidator(lambda v: _lenient_text(v) or "")] = ""
    asset_name: Text = None
    asset_description: Text = None
    asset_type: Text = None
    asset_state: StateOfAsset = None
    #: AUTOMATIC_REVIEW_REJECT or MANUAL_REVIEW_REJECT.
    fail_type: Text = None
    block_reason_code: Text = None
    #: Free text: why it was frozen, unfrozen or failed.
    reason: Text = None
    create_time: Time = None
    update_time: Time = None
    files: Annotated[tuple[AssetFile, ...], BeforeValidator(_objects)] = Field(
        default_factory=tuple)

    @property
    def usable(self) -> bool:
        return self.asset_state == AssetState.ACTIVED

    @property
    def rejected_files(self) -> tuple[AssetFile, ...]:
        """Files that failed review or are frozen, the ones a person has to look at."""
        return tuple(f for f in self.files if f.state in (FileState.FAILED, FileState.BLOCK))

    def summary(self) -> AssetSummary:
        """The asset as the summary would show it."""
        return AssetSummary(asset_id=self.asset_id, asset_name=self.asset_name,
                            asset_state=self.asset_state, asset_type=self.asset_type,
                            block_reason_code=self.block_reason_code)


class AssetLookup(Protocol):
    """What the bot reads of the library: the plain :class:`AssetsAPI` and the cached
    :class:`bot.metastudio.cache.CachedAssets` both provide it."""

    def summaries(self, asset_ids: Iterable[str]) -> dict[str, AssetSummary]:
        """Summaries by id; ids MetaStudio does not return are absent (a system asset
        may be among them: absence is no verdict)."""
        ...

    def asset(self, asset_id: str) -> Asset:
        """One asset; :class:`~bot.metastudio.errors.NotFoundError` when there is none."""
        ...


@runtime_checkable
class ForgetsAssets(Protocol):  # pragma: no mutate block (isinstance needs its members)
    """A cached :class:`AssetLookup`: ``refresh`` look-ups drop its entries first."""

    def invalidate(self, asset_id: str | None = None) -> None: ...


class AssetsAPI:
    """The asset operations over the jobs client's transport (same host, auth, retries,
    errors): every failure is a :class:`~bot.metastudio.errors.MetaStudioError`."""

    def __init__(self, transport: Transport, project_id: str, *,
                 batch_size: int = SUMMARY_BATCH) -> None:
        self.transport = transport
        self.project = quote(project_id, safe="")
        self.summary_path = summary_path(project_id)
        self.batch_size = max(1, batch_size)
        if self.summary_path not in transport.retry_posts:
            log.info("the asset summary is sent once: its transport does not retry it")

    @classmethod
    def of(cls, jobs: Any) -> AssetsAPI | None:
        """The asset operations of a jobs client (the cached one wraps the plain one)."""
        plain = getattr(jobs, "inner", jobs)
        transport, project = getattr(plain, "transport", None), getattr(plain, "project_id", None)
        if isinstance(transport, Transport) and isinstance(project, str):
            return cls(transport, project)
        return None

    def summaries(self, asset_ids: Iterable[str]) -> dict[str, AssetSummary]:
        """Summaries of ``asset_ids`` (duplicates and empty ids dropped), ``batch_size``
        ids a request. Only ids asked for are kept: a row for another asset is ignored."""
        wanted = [asset_id for asset_id in dict.fromkeys(asset_ids) if asset_id]
        found: dict[str, AssetSummary] = {}
        for start in range(0, len(wanted), self.batch_size):
            batch = wanted[start : start + self.batch_size]
            found.update(self._summary_batch(batch))
        return found

    def _summary_batch(self, batch: Sequence[str]) -> dict[str, AssetSummary]:
        answer = self.transport.post(self.summary_path, {"asset_ids": list(batch)})
        rows = answer.body.get("asset_list")
        if rows is None:
            rows = []  # nothing found may come back as no list at all
        if not isinstance(rows, list):
            raise BadResponseError("MetaStudio's asset summary has no `asset_list` list",
                                   status=answer.status, request_id=answer.request_id)
        asked = set(batch)
        found: dict[str, AssetSummary] = {}
        for row in rows:
            if not isinstance(row, dict):
                continue
            try:
                summary = AssetSummary.model_validate(row)
            except ValidationError:
                log.warning("an asset summary row was unreadable (request id %s)",
                            answer.request_id)
                continue
            if summary.asset_id in asked:
                found[summary.asset_id] = summary
            else:
                log.info("the asset summary answered for an asset not asked for (request "
                         "id %s)", answer.request_id)
        return found

    def asset(self, asset_id: str) -> Asset:
        """One asset (``show_asset``); ``NotFoundError`` for an id MetaStudio does not know."""
        answer = self.transport.get(
            f"/v1/{self.project}/digital-assets/{quote(asset_id, safe='')}", [])
        body = dict(answer.body)
        if not body.get("asset_id"):
            body["asset_id"] = asset_id  # the path said which
        try:
            asset = Asset.model_validate(body)
        except ValidationError as e:
            raise BadResponseError("MetaStudio's answer does not look like an asset",
                                   status=answer.status, request_id=answer.request_id) from e
        if asset.asset_id != asset_id:
            raise BadResponseError(f"MetaStudio answered for another asset ({asset.asset_id})",
                                   status=answer.status, request_id=answer.request_id)
        return asset
