"""The simulated create operations (API notes, section 1):

    POST /v1/{project_id}/2d-digital-human-videos       -> {"job_id": ...}
    POST /v1/{project_id}/photo-digital-human-videos    -> {"job_id": ...}

A body is checked as the notes describe the SDK's request models: the fields each type
takes, the ones marked required (a photo job's ``human_image``, its one shoot script and
its output asset name; a voice's ``voice_asset_id``; a 2D video's bitrate, width and
height, and with RESIZE one of the listed resolutions; a photo video's H264 codec…),
value sets and ranges. Two rules are the simulator's own, stricter than anything
documented, so a client's mistakes show: a field the type's model does not have is
refused (a detail's output fields sent back, say), and a 2D job needs a ``script_id`` or
``shoot_scripts`` (without either it has nothing to say). An asset the library holds in
another state than ACTIVED is refused too. A refusal is a 400 MSS.00000003 naming the
field.

The job made lives like any other (scheduled by ``Simulator.create_schedule``), its
detail shows back what it was made with, and its callback is sent when it ends.
``faults.time_out_creates`` makes the answer late *after* the job was made, as a create
that timed out at the client may well have been.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from .faults import ERROR_BODIES

if TYPE_CHECKING:
    from .service import Simulator

CREATE_PATH = re.compile(r"/v1/(?P<project>[^/]+)/(?P<kind>2d|photo)-digital-human-videos/?")

COMMON = frozenset({"script_id", "voice_config", "video_config", "shoot_scripts",
                    "output_asset_config", "background_music_config", "review_config",
                    "callback_config"})
FIELDS_2D = COMMON | {"model_asset_id", "action_config"}
FIELDS_PHOTO = COMMON | {"human_image", "id_card_image1", "id_card_image2",
                         "authorize_use_human_image"}
#: VideoConfig with clip_mode RESIZE: only these sizes (4K only with a 4K model).
RESIZE_SIZES = frozenset({(1920, 1080), (1080, 1920), (1280, 720), (720, 1280),
                          (3840, 2160), (2160, 3840)})
#: ShootScript text: at most 10000 characters not counting tags, the field 0-131072.
TEXT_CHARACTERS, TEXT_FIELD = 10_000, 131_072
_TAG = re.compile(r"<[^>]*>")
#: About 250 characters a minute at speed 100 (API notes, VoiceConfig).
CHARACTERS_PER_MINUTE = 250

Answer = tuple[int, Any, dict[str, str]]


class Refused(ValueError):
    """What is wrong with a create body, for the 400's ``error_msg``."""


def route(sim: Simulator, method: str, path: str, query: list[tuple[str, str]],
          headers: Any, body: bytes) -> Answer | None:
    """The answer for a create request, or None for other paths."""
    match = CREATE_PATH.fullmatch(path)
    if method != "POST" or match is None:
        return None
    sim.count_create_call()
    refused = sim.admit(method, path, query, headers, unquote(match["project"]), body)
    if refused:
        return refused
    photo = match["kind"] == "photo"
    try:
        request = json.loads(body or b"null")
        if not isinstance(request, dict):
            raise Refused("the body is not a JSON object")
        check(request, photo=photo)
        check_assets(sim, request)
    except (ValueError, Refused) as e:
        message = str(e) if isinstance(e, Refused) else "the body is not JSON"
        return 400, {**ERROR_BODIES[400], "error_msg": f"Invalid parameter: {message}"}, {}
    job_id = sim.create_job(request, photo=photo, seconds=video_seconds(request))
    late = sim.faults.take_create_timeout()
    if late:
        time.sleep(late)  # made, and answered after the client gave up
    return 200, {"job_id": job_id}, {}


def check(body: dict[str, Any], *, photo: bool) -> None:
    """Raise :class:`Refused` for the first thing wrong with ``body``."""
    allowed = FIELDS_PHOTO if photo else FIELDS_2D
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise Refused(f"{unknown[0]} is not a field of this create request")
    _optional_text(body, "script_id", 64)
    if "voice_config" in body:
        _voice(_object(body, "voice_config"))
    if photo:
        _base64(body, "human_image", required=True)
        for name in ("id_card_image1", "id_card_image2"):
            _base64(body, name, required=False)
        _optional_bool(body, "authorize_use_human_image")
        scripts = _scripts(body, required=True)
        if len(scripts) != 1:
            raise Refused("shoot_scripts of a photo job holds exactly one item")
        if "video_config" in body:
            _photo_video(_object(body, "video_config"))
        _output(body, required=True)
    else:
        _optional_text(body, "model_asset_id", 256)
        scripts = _scripts(body, required=False)
        if not scripts and body.get("script_id") is None:
            raise Refused("a 2D job needs script_id or shoot_scripts")
        if "video_config" in body:
            _video_2d(_object(body, "video_config"))
        if "action_config" in body:
            _number(_object(body, "action_config"), "action_interval", "action_config")
        _output(body, required=False)
    if "background_music_config" in body and body["background_music_config"] is not None:
        music = _object(body, "background_music_config")
        _optional_text(music, "music_asset_id", 64, "background_music_config.")
        _optional_int(music, "volume", "background_music_config.")
    if "review_config" in body:
        _optional_bool(_object(body, "review_config"), "no_need_review", "review_config.")
    if "callback_config" in body:
        _callback(_object(body, "callback_config"))


def check_assets(sim: Simulator, body: dict[str, Any]) -> None:
    """An asset the library holds must be ACTIVED (the only state other services may
    use); ids the library does not hold pass (it holds no system assets)."""
    for asset_id in referenced_assets(body):
        asset = sim.assets.get(asset_id)
        if asset is not None and asset.asset_state != "ACTIVED":
            raise Refused(f"asset {asset_id} is {asset.asset_state}, not ACTIVED")


def referenced_assets(body: dict[str, Any]) -> list[str]:
    ids = [body.get("model_asset_id"), (body.get("voice_config") or {}).get("voice_asset_id"),
           (body.get("background_music_config") or {}).get("music_asset_id")]
    for item in body.get("shoot_scripts") or []:
        script = item.get("shoot_script") or {}
        ids += [b.get("background_asset_id") for b in script.get("background_config") or []]
        ids += [layer.get("asset_id") for layer in script.get("layer_config") or []]
    return [i for i in ids if isinstance(i, str) and i]


def video_seconds(body: dict[str, Any]) -> float:
    """How long the made video is: its AUDIO scripts' length, or its text at the
    voice's speed."""
    speed = (body.get("voice_config") or {}).get("speed") or 100
    seconds = 0.0
    for item in body.get("shoot_scripts") or []:
        script = item.get("shoot_script") or {}
        if script.get("script_type") == "AUDIO" and script.get("audio_duration"):
            seconds += float(script["audio_duration"])
        else:
            text = _TAG.sub("", (script.get("text_config") or {}).get("text") or "")
            seconds += len(text) / (CHARACTERS_PER_MINUTE * speed / 100) * 60
    return round(max(seconds, 5.0), 1)


# -- the parts ------------------------------------------------------------------------------


def _object(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if not isinstance(value, dict):
        raise Refused(f"{name} must be an object")
    return value


def _optional_text(body: dict[str, Any], name: str, longest: int, prefix: str = "") -> None:
    value = body.get(name)
    if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= longest):
        raise Refused(f"{prefix}{name} must be text of 1-{longest} characters")


def _optional_bool(body: dict[str, Any], name: str, prefix: str = "") -> None:
    if name in body and not isinstance(body[name], bool):
        raise Refused(f"{prefix}{name} must be true or false")


def _optional_int(body: dict[str, Any], name: str, prefix: str = "", *,
                  low: int | None = None, high: int | None = None) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or (
            low is not None and value < low) or (high is not None and value > high):
        bounds = f" from {low} to {high}" if low is not None else ""
        raise Refused(f"{prefix}{name} must be a whole number{bounds}")


def _required_int(body: dict[str, Any], name: str, prefix: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Refused(f"{prefix}{name} is required (a whole number)")
    return value


def _number(body: dict[str, Any], name: str, prefix: str) -> None:
    value = body.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise Refused(f"{prefix}.{name} must be a number")


def _base64(body: dict[str, Any], name: str, *, required: bool) -> None:
    value = body.get(name)
    if value is None:
        if required:
            raise Refused(f"{name} is required (the photo, Base64)")
        return
    try:
        if not isinstance(value, str) or not base64.b64decode(value, validate=True):
            raise ValueError(name)
    except (binascii.Error, ValueError):
        raise Refused(f"{name} must be Base64") from None


def _voice(voice: dict[str, Any]) -> None:
    asset_id = voice.get("voice_asset_id")
    if not isinstance(asset_id, str) or not 1 <= len(asset_id) <= 256:
        raise Refused("voice_config.voice_asset_id is required (1-256 characters)")
    for name in ("speed", "pitch", "volume"):
        _optional_int(voice, name, "voice_config.")


def _video_2d(video: dict[str, Any]) -> None:
    for name in ("bitrate", "width", "height"):
        _required_int(video, name, "video_config.")
    clip = video.get("clip_mode", "RESIZE")
    if clip not in ("RESIZE", "CROP"):
        raise Refused("video_config.clip_mode must be RESIZE or CROP")
    if clip == "RESIZE" and (video["width"], video["height"]) not in RESIZE_SIZES:
        raise Refused("video_config: with RESIZE, width x height must be one of "
                      "1920x1080, 1080x1920, 1280x720, 720x1280, 3840x2160, 2160x3840")
    if video.get("codec", "H264") not in ("H264", "VP8", "QTRLE"):
        raise Refused("video_config.codec must be H264, VP8 or QTRLE")
    _optional_text(video, "frame_rate", 8, "video_config.")


def _photo_video(video: dict[str, Any]) -> None:
    if video.get("codec") != "H264":
        raise Refused("video_config.codec is required and must be H264")
    _optional_int(video, "bitrate", "video_config.", low=40, high=30_000)
    _optional_text(video, "frame_rate", 8, "video_config.")


def _output(body: dict[str, Any], *, required: bool) -> None:
    if "output_asset_config" not in body:
        if required:
            raise Refused("output_asset_config is required")
        return
    name = _object(body, "output_asset_config").get("asset_name")
    if not isinstance(name, str) or not 1 <= len(name) <= 256:
        raise Refused("output_asset_config.asset_name is required (1-256 characters)")


def _scripts(body: dict[str, Any], *, required: bool) -> list[dict[str, Any]]:
    scripts = body.get("shoot_scripts")
    if scripts is None:
        if required:
            raise Refused("shoot_scripts is required")
        return []
    if not isinstance(scripts, list) or not all(isinstance(s, dict) for s in scripts):
        raise Refused("shoot_scripts must be a list of objects")
    numbers = [s["sequence_no"] for s in scripts if "sequence_no" in s]
    if len(numbers) != len(set(numbers)):
        raise Refused("shoot_scripts: each sequence_no must be unique")
    for item in scripts:
        _optional_int(item, "sequence_no", "shoot_scripts[].")
        script = item.get("shoot_script")
        if script is None:
            continue
        if not isinstance(script, dict):
            raise Refused("shoot_scripts[].shoot_script must be an object")
        _script(script)
    return scripts


def _script(script: dict[str, Any]) -> None:
    if script.get("script_type", "TEXT") not in ("TEXT", "AUDIO"):
        raise Refused("shoot_script.script_type must be TEXT or AUDIO")
    _number(script, "audio_duration", "shoot_script")
    if "text_config" in script:
        text = _object(script, "text_config").get("text")
        if not isinstance(text, str):
            raise Refused("shoot_script.text_config.text is required")
        if len(text) > TEXT_FIELD or len(_TAG.sub("", text)) > TEXT_CHARACTERS:
            raise Refused("shoot_script.text_config.text holds at most 10000 characters")
    for background in script.get("background_config") or []:
        if not isinstance(background, dict) or background.get("background_type") not in (
                "IMAGE", "COLOR"):
            raise Refused("background_config[].background_type is required (IMAGE or COLOR)")
        image = background.get("background_image_config")
        if image is not None and not (isinstance(image, dict) and all(
                isinstance(image.get(k), int) for k in ("dx", "dy", "width", "height"))):
            raise Refused("background_image_config needs dx, dy, width and height")
    for layer in script.get("layer_config") or []:
        if not isinstance(layer, dict) or layer.get("layer_type") not in (
                "HUMAN", "IMAGE", "VIDEO", "TEXT"):
            raise Refused("layer_config[].layer_type is required (HUMAN, IMAGE, VIDEO, TEXT)")
        position = layer.get("position")
        if not isinstance(position, dict) or not all(
                isinstance(position.get(k), int) for k in ("dx", "dy", "layer_index")):
            raise Refused("layer_config[].position needs dx, dy and layer_index")


def _callback(callback: dict[str, Any]) -> None:
    url = callback.get("callback_url")
    if not isinstance(url, str) or not url:
        raise Refused("callback_config.callback_url is required")
    if callback.get("auth_type", "NONE") not in ("NONE", "MSS_A"):
        raise Refused("callback_config.auth_type must be NONE or MSS_A")
    key = callback.get("key")
    if key is not None and not isinstance(key, str):
        raise Refused("callback_config.key must be text")
