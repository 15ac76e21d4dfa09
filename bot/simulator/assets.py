"""The simulated asset library: assets with their states, frozen ones with a
``block_reason_code``, files that failed review with a ``reason`` and ``fail_type``.

    GET  /v1/{project_id}/digital-assets/{asset_id}   ShowAssetResponse, or 404
    POST /v1/{project_id}/digital-assets/summarys     {"asset_ids": [...]} -> asset_list[]

The summary answers only the assets it knows, in the order asked. The API documents no
limit on ``asset_ids``; ``Simulator.summary_limit`` sets one when a test wants a client
to be held to it (a longer list is then a 400).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from .faults import ERROR_BODIES
from .jobs import fmt

if TYPE_CHECKING:
    from .service import Simulator

SHOW_PATH = re.compile(r"/v1/(?P<project>[^/]+)/digital-assets/(?P<asset>[^/]+)/?")
SUMMARY_PATH = re.compile(r"/v1/(?P<project>[^/]+)/digital-assets/summarys/?")
#: docs/metastudio-api.md, "Assets": ``download_url`` is valid for 24 hours.
DOWNLOAD_VALIDITY = timedelta(hours=24)
#: What each asset type's main file is, for a realistic ``files[]``.
_MAIN_FILE = {"HUMAN_MODEL_2D": "zip", "VOICE_MODEL": "zip", "VIDEO": "mp4", "IMAGE": "png",
              "MUSIC": "mp3", "AUDIO": "wav"}

Answer = tuple[int, Any, dict[str, str]]


@dataclass
class SimAsset:
    """One asset; ``main_file_state``/``file_reason`` are its MAIN file's review."""

    asset_id: str
    asset_name: str
    asset_type: str = "HUMAN_MODEL_2D"
    asset_state: str = "ACTIVED"
    block_reason_code: str | None = None
    reason: str | None = None
    fail_type: str | None = None
    main_file_state: str = "CREATED"
    file_reason: str | None = None
    file_block_reason_code: str | None = None
    create_time: datetime | None = None
    update_time: datetime | None = None
    file_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def summary_json(self, base_url: str) -> dict[str, Any]:
        """A row of ``asset_list`` (DigitalAssetSummary)."""
        cover = f"{base_url}/asset-covers/{self.asset_id}.png" if base_url else None
        return {
            "asset_id": self.asset_id,
            "asset_name": self.asset_name,
            "asset_state": self.asset_state,
            "asset_type": self.asset_type,
            "block_reason_code": self.block_reason_code,
            "cover_url": cover,
            "thumbnail_url": cover,
        }

    def to_json(self, project_id: str, now: datetime, base_url: str) -> dict[str, Any]:
        """``ShowAssetResponse``. A frozen asset's files are hidden."""
        body: dict[str, Any] = {
            "project_id": project_id,
            "asset_id": self.asset_id,
            "asset_name": self.asset_name,
            "asset_description": "",
            "asset_type": self.asset_type,
            "asset_state": self.asset_state,
            "block_reason_code": self.block_reason_code,
            "reason": self.reason,
            "create_time": fmt(self.create_time),
            "update_time": fmt(self.update_time or self.create_time),
            "tags": [],
            "files": [] if self.asset_state == "BLOCK" else [self._main_file(now, base_url)],
        }
        if self.fail_type:
            body["fail_type"] = self.fail_type
        return body

    def _main_file(self, now: datetime, base_url: str) -> dict[str, Any]:
        kind = _MAIN_FILE.get(self.asset_type, "bin")
        expires = int((now + DOWNLOAD_VALIDITY).timestamp())
        main: dict[str, Any] = {
            "file_id": self.file_id,
            "file_name": f"{self.asset_name}.{kind}",
            "file_md5": hashlib.md5(self.file_id.encode()).hexdigest()[:24],  # noqa: S324
            "file_size": 1024 * 1024,
            "file_type": kind,
            "asset_file_category": "MAIN",
            "download_url": f"{base_url}/files/{self.file_id}.{kind}?Expires={expires}",
            "state": self.main_file_state,
        }
        if self.file_reason is not None:
            main["reason"] = self.file_reason
        if self.fail_type is not None:
            main["fail_type"] = self.fail_type
        if self.file_block_reason_code is not None:
            main["block_reason_code"] = self.file_block_reason_code
        return main


class AssetStore:
    """Assets by id; ``lock`` guards them."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._assets: dict[str, SimAsset] = {}

    def add(self, asset: SimAsset) -> None:
        with self.lock:
            if asset.asset_id in self._assets:
                raise ValueError(f"asset {asset.asset_id} exists")
            self._assets[asset.asset_id] = asset

    def get(self, asset_id: str) -> SimAsset | None:
        with self.lock:
            return self._assets.get(asset_id)

    def __contains__(self, asset_id: object) -> bool:
        with self.lock:
            return asset_id in self._assets


def route(sim: Simulator, method: str, path: str, query: list[tuple[str, str]],
          headers: Any, body: bytes) -> Answer | None:
    """The answer for an asset request, or None for other paths."""
    summary = SUMMARY_PATH.fullmatch(path)
    show = None if summary else SHOW_PATH.fullmatch(path)
    if not ((method == "POST" and summary) or (method == "GET" and show)):
        return None
    match = summary or show
    assert match is not None
    refused = sim.admit(method, path, query, headers, unquote(match["project"]), body)
    if refused:
        return refused
    if summary:
        return _summaries(sim, body)
    assert show is not None
    asset = sim.assets.get(unquote(show["asset"]))
    if asset is None:
        return 404, ERROR_BODIES[404], {}
    with sim.assets.lock:
        return 200, asset.to_json(sim.project_id, sim.now(), sim.url), {}


def _summaries(sim: Simulator, body: bytes) -> Answer:
    try:
        request = json.loads(body or b"null")
    except ValueError:
        return _invalid("the body is not JSON")
    ids = request.get("asset_ids") if isinstance(request, dict) else None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        return _invalid("asset_ids must be a non-empty list of asset ids")
    if sim.summary_limit is not None and len(ids) > sim.summary_limit:
        return _invalid(f"asset_ids holds at most {sim.summary_limit} ids")
    with sim.assets.lock:
        found = [a for i in dict.fromkeys(ids) if (a := sim.assets.get(i)) is not None]
        return 200, {"asset_list": [a.summary_json(sim.url) for a in found]}, {}


def _invalid(message: str) -> Answer:
    return 400, {**ERROR_BODIES[400], "error_msg": f"Invalid parameter: {message}"}, {}
