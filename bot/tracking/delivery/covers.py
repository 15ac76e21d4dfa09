"""Covers that last: a finished job's cover uploaded to Slack, shown with ``slack_file``.

MetaStudio's ``cover_url`` is a signed URL that expires, and Slack fetches an
``image_url`` when the message is posted (and refuses the whole message when that fails).
An image uploaded to Slack itself does not depend on either. :class:`CoverUploader`
fetches the cover's bytes from ``cover_url`` once, uploads them with slack_sdk's
``files_upload_v2`` (``files.getUploadURLExternal``, the upload, then
``files.completeUploadExternal``; https://docs.slack.dev/messaging/working-with-files),
and remembers the file id per job in the database, so a retried notification or a
second process never uploads the same cover twice.

Nothing here may cost a notification: every failure (cover URL expired, upload refused,
rate limit, network) answers None and the notifier falls back to the ``image_url`` image,
then to a link. docs/surfaces.md has the details.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from ...domain.messaging import DeliveryError, ImageRejected
from ...metastudio.models import Job, JobState
from ...telemetry.metrics import NOTIFICATIONS
from ..store.database import Store

log = logging.getLogger(__name__)

#: A cover is a thumbnail; anything larger than this is not one (and is not uploaded).
MAX_COVER_BYTES = 10 * 1024 * 1024
#: (connect, read) seconds for fetching a cover: the notification waits on it.
FETCH_TIMEOUT = (3.05, 10.0)


class CoverUploader:
    """``slack_file(job)``: the Slack file id of ``job``'s cover, uploading it first if
    needed; None when there is none or it cannot be had. Thread-safe; never raises."""

    def __init__(
        self,
        client: WebClient,
        store: Store,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        # A client without retry handlers (the messenger's, see build_covers): a
        # rate-limited upload falls back to the URL image now rather than holding the
        # sender's thread for Retry-After seconds.
        self.client = client
        self.store = store
        self.session = session or requests.Session()
        self.clock = clock

    def slack_file(self, job: Job) -> str | None:
        if not job.cover_url or job.state != JobState.SUCCEED or not job.job_id:
            return None
        known = self.store.cover_file(job.job_id)
        if known is not None:
            return known
        try:
            data = self._fetch(job.cover_url)
            file_id = self._upload(job, data)
        except (requests.RequestException, SlackClientError, OSError, ValueError,
                KeyError, TypeError) as e:
            log.info("cover of %s not uploaded (%s); using its URL", job.job_id, _why(e))
            NOTIFICATIONS.labels(result="cover_upload_failed").inc()
            return None
        self.store.add_cover_file(job.job_id, file_id, self.clock())
        # Another process may have uploaded it meanwhile: everyone uses the first one.
        return self.store.cover_file(job.job_id) or file_id


    def _fetch(self, url: str) -> bytes:
        with self.session.get(url, timeout=FETCH_TIMEOUT, stream=True) as response:
            response.raise_for_status()
            kind = response.headers.get("Content-Type", "")
            if not kind.startswith("image/"):
                raise ValueError(f"cover answered {kind or 'no Content-Type'}, not an image")
            data = b""
            for chunk in response.iter_content(64 * 1024):
                data += chunk
                if len(data) > MAX_COVER_BYTES:
                    raise ValueError(f"cover larger than {MAX_COVER_BYTES} bytes")
        if not data:
            raise ValueError("empty cover")
        return data

    def _upload(self, job: Job, data: bytes) -> str:
        name = job.asset_name or job.job_id
        response = self.client.files_upload_v2(
            filename=f"cover-{job.job_id}.png", content=data, title=f"Cover of {name}",
            alt_txt=f"Cover of {name}",
        )
        file_id = response["file"]["id"]
        if not isinstance(file_id, str) or not file_id:
            raise ValueError("files.completeUploadExternal answered no file id")
        return file_id


def with_slack_file(blocks: Sequence[Any], file_id: str) -> list[dict[str, Any]]:
    """``blocks`` with each ``image_url`` image block showing the uploaded file instead."""
    out = []
    for block in blocks:
        data = block.to_dict() if hasattr(block, "to_dict") else dict(block)
        if data.get("type") == "image" and data.get("image_url"):
            data = {k: v for k, v in data.items() if k != "image_url"}
            data["slack_file"] = {"id": file_id}
        out.append(data)
    return out


def cover_refused(error: DeliveryError) -> bool:
    """Slack refused the message because of its image (``invalid_blocks``: a file it
    cannot show yet, or an image it could not download); other errors are not ours."""
    return isinstance(error, ImageRejected) or (
        type(error) is DeliveryError and error.error == "invalid_blocks")


def build_covers(enabled: bool, messenger: object, store: Store) -> CoverUploader | None:
    """The uploader when ``COVER_UPLOAD`` is on and messages go to Slack (the console
    demo's messenger has no Slack to upload to). It shares the messenger's client, which
    has no retry handlers (bot/slack/messenger.py)."""
    client = getattr(messenger, "client", None)
    if not enabled or not isinstance(client, WebClient):
        return None
    return CoverUploader(client, store)


def _why(error: Exception) -> str:
    if isinstance(error, SlackApiError):
        return f"Slack answered {error.response.get('error')}"
    return f"{type(error).__name__}: {error}"[:200]
