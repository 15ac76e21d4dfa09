"""Re-creating a job ("retry a failed job"): the create request made from the original's
detail, what could not be carried over, the minutes it may spend and whether its assets
can still be used. Pure; the detail comes from
:meth:`bot.metastudio.client.MetaStudioClient.get_detail` (``show_script=true``), the
create goes through :class:`bot.metastudio.creating.JobCreator`.

What the detail returns and what it does not (the API notes, section 2), field by field:

==============================  ================================  ======================
create field                    2D                                photo
==============================  ================================  ======================
script_id, voice_config,        carried                           carried
shoot_scripts
model_asset_id                  carried                           (no such field)
human_image                     not sent (deprecated on 2D)       carried (required)
video_config                    carried when complete             carried (codec H264)
background_music_config         carried                           not returned: listed
output_asset_config             a new, unique asset name          the same
callback_config                 the bot's own (the original's     the same
                                is not returned: listed)
review_config                   not returned: listed              the same
action_config                   not returned: listed              (no such field)
id_card_image1/2,               (no such field)                   not returned: listed
authorize_use_human_image
X-App-UserId (a header)         not returned: listed              the same
==============================  ================================  ======================

Inside the shoot scripts, ``subtitle_file_info`` is the original job's output and is not
sent back (listed). URLs have no documented lifetime, so where an asset id stands beside
a URL (a background, a layer) the id is kept and the URL dropped; a URL alone is kept
with a caveat. A photo job's one shoot script keeps only ``script_type`` and
``text_config``, the only parts the API uses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from ..metastudio.assets import AssetSummary
from ..metastudio.models import AssetRef, AssetRole, Job, JobDetail, JobType, ShootScript
from .explain import Reason, asset_problems

#: The job types MetaStudio's create operations make (2D and photo, both spellings).
RETRYABLE_TYPES = frozenset({JobType.VIDEO_2D, JobType.PHOTO, JobType.PHOTO_SDK})
#: ``output_asset_config.asset_name``: at most 256 characters.
ASSET_NAME_LIMIT = 256
#: About 250 characters a minute at speed 100 (VoiceConfig in the API notes).
CHARACTERS_PER_MINUTE = 250
_RETRY_SUFFIX = re.compile(r" · retry \d{8}-\d{6}$")
_TAG = re.compile(r"<[^>]*>")
#: VideoConfig's required fields (2D).
_VIDEO_2D_REQUIRED = ("bitrate", "width", "height")
#: The parts of a layer that are URLs (its asset id stands for them when present).
_LAYER_URLS = (("image_config", "image_url"), ("video_config", "video_url"),
               ("video_config", "video_cover_url"))


class CannotRecreate(ValueError):
    """The detail does not hold what a create request needs (no script at all, a photo
    job without its photo): most likely it was read without ``show_script=true``."""


@dataclass(frozen=True)
class CallbackConfig:
    """The bot's own ``callback_config`` for the new job: its callback receiver's URL,
    MSS_A (HMAC-signed, docs/metastudio-api.md, "Callbacks") with ``key`` unless
    ``auth_type`` is NONE."""

    url: str
    key: str | None = None
    auth_type: Literal["MSS_A", "NONE"] = "MSS_A"

    def __post_init__(self) -> None:
        if self.auth_type == "MSS_A" and not self.key:
            raise ValueError("an MSS_A callback needs its key")

    def to_body(self) -> dict[str, str]:
        body = {"callback_url": self.url, "auth_type": self.auth_type}
        if self.key is not None:
            body["key"] = self.key
        return body

    def __repr__(self) -> str:
        return f"CallbackConfig(url={self.url!r}, auth_type={self.auth_type!r}, key=***)"


@dataclass(frozen=True)
class Omission:
    """Something of the original job the new one will not have, and why."""

    field: str
    why: str

    def __str__(self) -> str:
        return f"{self.field}: {self.why}"


@dataclass(frozen=True)
class Recreation:
    """A create request made from a job's detail, for the confirm dialog and then
    :meth:`bot.metastudio.creating.JobCreator.create`."""

    #: The create body (``Create2DDigitalHumanVideoReq`` or ``CreatePhotoDigitalHumanVideoReq``).
    #: Kept out of repr: it holds the callback key (the SDK does not mask it either) and
    #: a photo job's photo.
    body: dict[str, Any] = field(repr=False)
    photo: bool
    #: The new job's output asset name (look for it with ``find_created`` after a timeout).
    asset_name: str
    #: What could not be carried over.
    not_carried: tuple[Omission, ...]
    #: What was carried but may not work (URLs of unknown lifetime).
    caveats: tuple[str, ...]
    #: The assets the body uses, to check with :func:`check_assets` first.
    assets: tuple[AssetRef, ...]


def build_recreation(detail: JobDetail, *, asset_name: str,
                     callback: CallbackConfig | None) -> Recreation:
    """The create request for a new job like ``detail``'s (read with
    ``show_script=true``), named ``asset_name`` (see :func:`retry_asset_name`), called back
    at the bot's own ``callback`` (None: no callback). Raises :class:`CannotRecreate` when
    the detail lacks what the request needs, ``ValueError`` for a bad ``asset_name``."""
    if not 1 <= len(asset_name) <= ASSET_NAME_LIMIT:
        raise ValueError(f"the output asset name is 1-{ASSET_NAME_LIMIT} characters")
    builder = _Builder(detail)
    body = builder.photo_body() if detail.is_photo else builder.body_2d()
    body["output_asset_config"] = {"asset_name": asset_name}
    if callback is not None:
        body["callback_config"] = callback.to_body()
    builder.omit("callback_config", "the original's URL and key are not returned; "
                 + ("the bot's own callback is used" if callback else "no callback is set"))
    builder.omit("review_config", "not returned; MetaStudio's default review applies")
    builder.omit("X-App-UserId", "the original's third-party user id is not returned")
    return Recreation(
        body=body, photo=detail.is_photo, asset_name=asset_name,
        not_carried=tuple(builder.omissions), caveats=tuple(builder.caveats),
        # A create body has the detail's shape: the assets it names, read the same way.
        assets=JobDetail.model_validate(body).input_refs,
    )


def retry_asset_name(original: str | None, now: datetime) -> str:
    """A new output asset name, unique to this attempt: the original's with
    `` · retry YYYYMMDD-HHMMSS`` (UTC; an earlier retry's suffix replaced), cut to fit
    256 characters. MetaStudio refuses a name already taken, and ``find_created`` finds
    the job of a create in doubt by it."""
    base = _RETRY_SUFFIX.sub("", (original or "").strip()) or "video"
    suffix = f" · retry {now.astimezone(UTC):%Y%m%d-%H%M%S}"
    return base[: ASSET_NAME_LIMIT - len(suffix)] + suffix


@dataclass(frozen=True)
class MinutesEstimate:
    """About how many video minutes a re-creation spends, and from what: the original's
    video length (``duration``), its scripts (audio length, or text at the voice's speed,
    about 250 characters a minute at speed 100), or nothing known. How MetaStudio rounds
    what it bills is not documented: shown as "about"."""

    minutes: float | None
    basis: Literal["duration", "script", "unknown"]

    @property
    def whole_minutes(self) -> int | None:
        """Rounded up: at least what a dialog should warn of."""
        return None if self.minutes is None else max(1, math.ceil(self.minutes - 1e-9))


def estimate_minutes(job: Job, detail: JobDetail | None = None) -> MinutesEstimate:
    """The video minutes a re-creation of ``job`` will spend, from its own video length
    when it has one (a failed job often has none), else from ``detail``'s scripts."""
    for source in (job, detail):
        if source is not None and source.duration is not None and source.duration > 0:
            return MinutesEstimate(source.duration / 60, "duration")
    if detail is None or not detail.scripts:
        return MinutesEstimate(None, "unknown")
    speed = detail.voice_config.speed if detail.voice_config else None
    rate = CHARACTERS_PER_MINUTE * ((speed if speed and speed > 0 else 100) / 100)
    minutes = 0.0
    for script in detail.scripts:
        if script.script_type == "AUDIO" and script.audio_duration:
            minutes += script.audio_duration / 60
        elif script.text_config and script.text_config.text:
            minutes += len(_TAG.sub("", script.text_config.text)) / rate
    return MinutesEstimate(minutes, "script") if minutes > 0 else MinutesEstimate(None, "unknown")


@dataclass(frozen=True)
class AssetCheck:
    """Whether the assets of a re-creation can be used: ``problems`` are assets the
    library says are not ACTIVED (the only state MetaStudio will use), ``unchecked``
    those it did not return (system assets may not be; a gone asset neither)."""

    problems: tuple[Reason, ...]
    unchecked: tuple[AssetRef, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def refusal(self) -> str | None:
        """Why not to re-create, in plain text, or None when nothing stands in the way."""
        if not self.problems:
            return None
        lines = [problem.sentence() for problem in self.problems]
        return "; ".join(lines) + ". MetaStudio makes videos only with ACTIVED assets."


def check_assets(refs: Iterable[AssetRef],
                 summaries: Mapping[str, AssetSummary]) -> AssetCheck:
    """Check the input assets of ``refs`` (a :attr:`Recreation.assets`) against their
    summaries: a frozen (BLOCK) model, say, is a problem with its block reason."""
    inputs = [ref for ref in refs if ref.role is not AssetRole.OUTPUT]
    return AssetCheck(
        problems=asset_problems(inputs, summaries),
        unchecked=tuple(ref for ref in inputs if ref.asset_id not in summaries),
    )


class _Builder:
    """One body under construction, with what it leaves out and what it warns of."""

    def __init__(self, detail: JobDetail) -> None:
        self.detail = detail
        self.omissions: list[Omission] = []
        self.caveats: list[str] = []

    def omit(self, field: str, why: str) -> None:
        if all(o.field != field for o in self.omissions):
            self.omissions.append(Omission(field, why))

    def body_2d(self) -> dict[str, Any]:
        d = self.detail
        if not d.script_id and not d.scripts:
            raise CannotRecreate("the detail holds neither a script id nor shoot scripts "
                                 "(was it read with show_script=true?)")
        body: dict[str, Any] = {}
        if d.script_id:
            body["script_id"] = d.script_id
        if d.model_asset_id:
            body["model_asset_id"] = d.model_asset_id
        if d.video_making_type == "PICTURE" or d.human_image:
            self.omit("human_image", "a 2D job made from a picture cannot send it again: "
                      "the 2D create has no such field")
        self._voice(body)
        if d.video_config is not None:
            video = d.video_config.model_dump(exclude_none=True)
            missing = [name for name in _VIDEO_2D_REQUIRED if name not in video]
            if missing:
                self.omit("video_config", f"incomplete in the detail (no {', '.join(missing)}); "
                          + ("the script's" if d.script_id else "MetaStudio's default")
                          + " video settings apply")
            else:
                body["video_config"] = video
        music = d.background_music_config
        if music is not None and music.music_asset_id:
            body["background_music_config"] = music.model_dump(exclude_none=True)
        scripts = self._scripts(photo=False)
        if scripts:
            body["shoot_scripts"] = scripts
        self.omit("action_config", "not returned; the default gesture interval applies")
        return body

    def photo_body(self) -> dict[str, Any]:
        d = self.detail
        if not d.human_image:
            raise CannotRecreate("the detail holds no photo (human_image; was it read with "
                                 "show_script=true?)")
        scripts = self._scripts(photo=True)
        if not scripts:
            raise CannotRecreate("the detail holds no shoot script (was it read with "
                                 "show_script=true?)")
        body: dict[str, Any] = {"human_image": d.human_image}
        if d.script_id:
            body["script_id"] = d.script_id
        self._voice(body)
        if d.video_config is not None:
            if d.video_config.codec:
                body["video_config"] = {k: v for k, v in d.video_config.model_dump(
                    exclude_none=True).items() if k in ("codec", "bitrate", "frame_rate")}
            else:
                self.omit("video_config", "no codec in the detail; the default applies")
        body["shoot_scripts"] = scripts
        self.omit("background_music_config", "the photo detail does not return it")
        self.omit("id_card_image1/2, authorize_use_human_image",
                  "the ID-card images and the consent are not returned: ask the requester")
        return body

    def _voice(self, body: dict[str, Any]) -> None:
        voice = self.detail.voice_config
        if voice is None:
            return
        if voice.voice_asset_id:
            body["voice_config"] = voice.model_dump(exclude_none=True)
        else:
            self.omit("voice_config", "no voice_asset_id in the detail; "
                      + ("the script's voice applies" if self.detail.script_id
                         else "the default voice applies"))

    def _scripts(self, *, photo: bool) -> list[dict[str, Any]]:
        items = sorted(self.detail.shoot_scripts,
                       key=lambda i: (i.sequence_no is None, i.sequence_no or 0))
        items = [item for item in items if item.shoot_script is not None]
        if photo and len(items) > 1:
            self.omit("shoot_scripts[1:]", "a photo job takes exactly one shoot script")
            items = items[:1]
        out = []
        for item in items:
            assert item.shoot_script is not None
            if (item.model_extra or {}).get("subtitle_file_info") is not None:
                self.omit("subtitle_file_info", "the original job's subtitle files are its "
                          "output, not sent back")
            entry: dict[str, Any] = {}
            if item.sequence_no is not None:
                entry["sequence_no"] = item.sequence_no
            entry["shoot_script"] = (self._photo_script(item.shoot_script) if photo
                                     else self._script(item.shoot_script))
            out.append(entry)
        return out

    @staticmethod
    def _photo_script(script: ShootScript) -> dict[str, Any]:
        dumped = script.model_dump(exclude_none=True)
        return {k: v for k, v in dumped.items() if k in ("script_type", "text_config")}

    def _script(self, script: ShootScript) -> dict[str, Any]:
        dumped = script.model_dump(exclude_none=True)
        for empty in ("background_config", "layer_config"):
            if not dumped.get(empty):
                dumped.pop(empty, None)
        for background in dumped.get("background_config", []):
            url = background.get("background_config")
            if url and background.get("background_asset_id"):
                del background["background_config"]  # the asset id stands for it
            elif url:
                self.caveats.append(f"a background is only a URL ({url}): it may have expired")
        for layer in dumped.get("layer_config", []):
            for part, key in _LAYER_URLS:
                inner = layer.get(part)
                if not isinstance(inner, dict) or not inner.get(key):
                    continue
                if layer.get("asset_id"):
                    del inner[key]
                else:
                    self.caveats.append(f"a {layer.get('layer_type', '').lower() or 'layer'} "
                                        f"layer is only a URL ({inner[key]}): it may have "
                                        "expired")
        external = dumped.get("audio_drive_file_external_url")
        if external:
            self.caveats.append(f"the audio file is an external URL ({external}): it may "
                                "have expired")
        return dumped
