"""Response types of GET /v1/{project_id}/digital-human-videos, and of the per-type
detail operations (:class:`JobDetail`: the job's configuration and the assets it uses).

Tolerant by design (docs/metastudio-api.md, "Formats"): every
field is optional, extra fields are kept, and a state or job type the bot does not know
stays its raw string so it can be shown as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

log = logging.getLogger(__name__)


class JobState(StrEnum):
    """Task states from the reference's DigitalHumanVideo table."""

    WAITING = "WAITING"
    PROCESSING = "PROCESSING"
    SUCCEED = "SUCCEED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    BLOCK = "BLOCK"

    @property
    def is_finished(self) -> bool:
        # docs/metastudio-api.md, "States": BLOCK (frozen) and CANCELED are end states for the bot.
        return self in FINISHED_STATES


FINISHED_STATES = frozenset({JobState.SUCCEED, JobState.FAILED, JobState.CANCELED, JobState.BLOCK})
UNFINISHED_STATES = frozenset({JobState.WAITING, JobState.PROCESSING})


class JobType(StrEnum):
    """Job types. The request docs and the SDK's response model spell photo jobs
    differently (docs/metastudio-api.md, "Formats"), so both spellings are known."""

    VIDEO_2D = "2D_DIGITAL_HUMAN_VIDEO"
    PHOTO = "PHOTO_DIGITAL_HUMAN_VIDEO"
    PHOTO_SDK = "DIGITAL_HUMAN_PHOTO_VIDEO"

    @property
    def is_photo(self) -> bool:
        return self in (JobType.PHOTO, JobType.PHOTO_SDK)


def _lenient_time(value: Any) -> Any:
    """Parse upstream times; a malformed one becomes None instead of failing the page."""
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            log.warning("unparseable time from MetaStudio: %r", value)
            return None
        # A time without an offset is UTC (the documented format ends in Z).
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    log.warning("unexpected time value from MetaStudio: %r", value)
    return None


def _open_enum(enum: type[StrEnum]) -> Callable[[Any], Any]:
    """Known values become the enum member; unknown strings stay as they are."""

    def convert(value: Any) -> Any:
        if value is None or isinstance(value, enum):
            return value
        text = str(value)
        try:
            return enum(text)
        except ValueError:
            return text

    return convert


def _lenient_float(value: Any) -> Any:
    if value is None or isinstance(value, int | float):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        log.warning("unexpected duration from MetaStudio: %r", value)
        return None


Time = Annotated[datetime | None, BeforeValidator(_lenient_time)]
State = Annotated[JobState | str | None, BeforeValidator(_open_enum(JobState))]
Kind = Annotated[JobType | str | None, BeforeValidator(_open_enum(JobType))]


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class ErrorInfo(_Tolerant):
    """The reference's ErrorResponse: why a job failed."""

    error_code: str | None = None
    error_msg: str | None = None


class OutputAsset(_Tolerant):
    """The reference's OutputAssetInfo."""

    asset_id: str | None = None
    asset_name: str | None = None
    cover_url: str | None = None
    #: Valid for 24 hours after the answer (reference, OutputAssetInfo); photo jobs only.
    preview_video_url: str | None = None

    def cover_expires_at(self) -> datetime | None:
        """The ``Expires=`` epoch seconds of the signed cover URL, if any."""
        return signed_url_expiry(self.cover_url)


class Job(_Tolerant):
    """One video production task (the reference's DigitalHumanVideo)."""

    job_id: str = ""
    state: State = None
    job_type: Kind = None
    start_time: Time = None
    end_time: Time = None
    duration: Annotated[float | None, BeforeValidator(_lenient_float)] = None
    output_asset_config: OutputAsset | None = None
    error_info: ErrorInfo | None = None
    create_time: Time = None
    lastupdate_time: Time = None

    @property
    def is_finished(self) -> bool:
        """True for SUCCEED, FAILED, CANCELED and BLOCK; unknown states count as unfinished
        so that the poller keeps watching them rather than announcing a guess."""
        return isinstance(self.state, JobState) and self.state.is_finished

    @property
    def state_name(self) -> str:
        """The state as upstream spelled it, ``UNKNOWN`` when it was missing."""
        return str(self.state) if self.state is not None else "UNKNOWN"

    @property
    def is_photo(self) -> bool:
        return isinstance(self.job_type, JobType) and self.job_type.is_photo

    @property
    def asset_name(self) -> str | None:
        return self.output_asset_config.asset_name if self.output_asset_config else None

    @property
    def cover_url(self) -> str | None:
        return self.output_asset_config.cover_url if self.output_asset_config else None

    @property
    def preview_video_url(self) -> str | None:
        return self.output_asset_config.preview_video_url if self.output_asset_config else None

    @property
    def run_seconds(self) -> float | None:
        """Wall time from start to end, when both are known."""
        if self.start_time and self.end_time:
            return max(0.0, (self.end_time - self.start_time).total_seconds())
        return None


def _object(value: Any) -> Any:
    """A nested object, or None when the answer holds something else there: one odd
    configuration field must not cost the whole detail."""
    return value if isinstance(value, dict | BaseModel) else None


def _objects(value: Any) -> Any:
    """A list's objects; anything else in it (or a list that is not one) is dropped."""
    if not isinstance(value, list | tuple):
        return ()
    return tuple(item for item in value if isinstance(item, dict | BaseModel))


def _lenient_int(value: Any) -> Any:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _lenient_text(value: Any) -> Any:
    """Ids and codes sent as numbers are the same ids; anything else is no text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


Text = Annotated[str | None, BeforeValidator(_lenient_text)]
Number = Annotated[float | None, BeforeValidator(_lenient_float)]
Whole = Annotated[int | None, BeforeValidator(_lenient_int)]


class VoiceConfig(_Tolerant):
    """``voice_config``: the voice asset and how it speaks (speed 100 = normal, about
    250 characters a minute)."""

    voice_asset_id: Text = None
    speed: Whole = None
    pitch: Whole = None
    volume: Whole = None


class VideoConfig(_Tolerant):
    """``video_config``: the 2D ``VideoConfig`` or the photo ``PhotoVideoConfig`` (codec,
    bitrate and frame rate only); every other field is kept as it came."""

    codec: Text = None
    bitrate: Whole = None
    width: Whole = None
    height: Whole = None
    frame_rate: Text = None
    clip_mode: Text = None


class BackgroundMusicConfig(_Tolerant):
    """``background_music_config`` (2D detail only)."""

    music_asset_id: Text = None
    volume: Whole = None


class TextConfig(_Tolerant):
    text: Text = None


class BackgroundConfig(_Tolerant):
    """One of a shoot script's ``background_config``: an IMAGE (an asset, or its URL) or
    a COLOR."""

    background_type: Text = None
    #: The background's URL (its lifetime is not documented).
    background_config: Text = None
    background_asset_id: Text = None


class LayerConfig(_Tolerant):
    """One of a shoot script's ``layer_config``: HUMAN, IMAGE, VIDEO or TEXT."""

    layer_type: Text = None
    asset_id: Text = None


class ShootScript(_Tolerant):
    """``shoot_script``: what is said (TEXT by TTS, or AUDIO) and what is shown."""

    script_type: Text = None
    text_config: Annotated[TextConfig | None, BeforeValidator(_object)] = None
    #: Seconds of an AUDIO script.
    audio_duration: Number = None
    background_config: Annotated[tuple[BackgroundConfig, ...],
                                 BeforeValidator(_objects)] = Field(default_factory=tuple)
    layer_config: Annotated[tuple[LayerConfig, ...],
                            BeforeValidator(_objects)] = Field(default_factory=tuple)


class ShootScriptItem(_Tolerant):
    """One of ``shoot_scripts``; ``subtitle_file_info`` is the job's output, kept as it
    came."""

    sequence_no: Whole = None
    shoot_script: Annotated[ShootScript | None, BeforeValidator(_object)] = None


class AssetRole(StrEnum):
    """What an asset is to a job."""

    MODEL = "model"
    VOICE = "voice"
    MUSIC = "music"
    BACKGROUND = "background"
    LAYER = "layer"
    OUTPUT = "output"


@dataclass(frozen=True)
class AssetRef:
    """An asset a job uses (or, ``OUTPUT``, makes)."""

    role: AssetRole
    asset_id: str


class JobDetail(Job):
    """One job from its type's detail operation, read with ``show_script=true``: the
    list's fields plus the configuration a re-creation needs and the assets a failure
    may be about (docs/metastudio-api.md, "Job detail"). What the detail does not return
    (callback and review settings, the action interval, a photo job's ID-card images and
    background music) is not here either."""

    script_id: Text = None
    #: 2D jobs: the HUMAN_MODEL_2D asset.
    model_asset_id: Text = None
    #: Photo jobs: the photo, Base64 (large: kept out of repr). Deprecated on 2D details.
    human_image: Annotated[str | None, Field(repr=False), BeforeValidator(_lenient_text)] = None
    #: 2D details: MODEL or PICTURE (with the deprecated ``human_image``).
    video_making_type: Text = None
    voice_config: Annotated[VoiceConfig | None, BeforeValidator(_object)] = None
    video_config: Annotated[VideoConfig | None, BeforeValidator(_object)] = None
    background_music_config: Annotated[BackgroundMusicConfig | None,
                                       BeforeValidator(_object)] = None
    shoot_scripts: Annotated[tuple[ShootScriptItem, ...],
                             BeforeValidator(_objects)] = Field(default_factory=tuple)

    @property
    def scripts(self) -> tuple[ShootScript, ...]:
        """The shoot scripts themselves, in ``sequence_no`` order."""
        items = sorted(self.shoot_scripts, key=lambda i: (i.sequence_no is None,
                                                          i.sequence_no or 0))
        return tuple(item.shoot_script for item in items if item.shoot_script is not None)

    def asset_refs(self) -> tuple[AssetRef, ...]:
        """Every asset the job names, each once (its first role): model, voice, music,
        the scripts' backgrounds and layers, then the output video."""
        refs: list[AssetRef] = []

        def add(role: AssetRole, asset_id: str | None) -> None:
            if asset_id and all(ref.asset_id != asset_id for ref in refs):
                refs.append(AssetRef(role, asset_id))

        add(AssetRole.MODEL, self.model_asset_id)
        add(AssetRole.VOICE, self.voice_config.voice_asset_id if self.voice_config else None)
        music = self.background_music_config
        add(AssetRole.MUSIC, music.music_asset_id if music else None)
        for script in self.scripts:
            for background in script.background_config:
                add(AssetRole.BACKGROUND, background.background_asset_id)
            for layer in script.layer_config:
                add(AssetRole.LAYER, layer.asset_id)
        output = self.output_asset_config
        add(AssetRole.OUTPUT, output.asset_id if output else None)
        return tuple(refs)

    @property
    def input_refs(self) -> tuple[AssetRef, ...]:
        """The assets the job uses, its output left out."""
        return tuple(ref for ref in self.asset_refs() if ref.role is not AssetRole.OUTPUT)


def asset_refs_of(job: Job, detail: JobDetail | None) -> tuple[AssetRef, ...]:
    """The assets ``job`` names: its detail's, or without one just its output video."""
    if detail is not None:
        return detail.asset_refs()
    output = job.output_asset_config
    return (AssetRef(AssetRole.OUTPUT, output.asset_id),) if output and output.asset_id else ()


def end_reason(job: Job) -> ErrorInfo | None:
    """Why a job ended as it did, where MetaStudio says: its ``error_info``, else a
    ``block_reason`` (documented for live jobs only, read when a video job carries one).
    None when neither holds anything."""
    info = job.error_info
    if info is not None and (info.error_code or info.error_msg):
        return info
    block_reason = _lenient_text((job.model_extra or {}).get("block_reason"))
    return ErrorInfo(error_msg=block_reason) if block_reason else None


class JobPage(BaseModel):
    """One page of the list endpoint. ``count`` is the total of matching jobs, not the
    page size (docs/metastudio-api.md, "Listing parameters")."""

    model_config = ConfigDict(extra="allow", frozen=True)

    count: int = 0
    jobs: tuple[Job, ...] = Field(default_factory=tuple)
    #: X-Request-Id of the answer; not part of the body.
    request_id: str | None = None

    @classmethod
    def from_body(cls, body: dict[str, Any], request_id: str | None) -> JobPage:
        """Build a page from a decoded JSON object, tolerating a missing or null list."""
        jobs = body.get("jobs") or []
        if not isinstance(jobs, list):
            jobs = []
        count = body.get("count")
        data = {k: v for k, v in body.items() if k not in ("jobs", "count", "request_id")}
        return cls(
            count=count if isinstance(count, int) and count >= 0 else len(jobs),
            jobs=tuple(Job.model_validate(j) for j in jobs if isinstance(j, dict)),
            request_id=request_id,
            **data,
        )


def signed_url_expiry(url: str | None) -> datetime | None:
    """Expiry of an object-storage URL signed with ``Expires=<epoch seconds>``."""
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("Expires")
    if not values:
        return None
    try:
        return datetime.fromtimestamp(int(values[0]), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
