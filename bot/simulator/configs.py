"""What a simulated job was made with: the configuration its detail shows back with
``show_script=true`` (docs/metastudio-api.md, "Job detail").

A job created through the simulator's create operation keeps the body it was created
with, less what the detail does not return. A job added by a test or seeded has a
configuration made up here: it names assets of :data:`LIBRARY`, which every simulator
holds, so a failure card in the demo has real assets to look up.
"""

from __future__ import annotations

import base64
from typing import Any

from .cover import cover_png

#: The create fields MetaStudio's detail does not return (API notes, section 2).
NOT_RETURNED = ("callback_config", "review_config", "action_config", "id_card_image1",
                "id_card_image2", "authorize_use_human_image")
#: The photo detail does not return background music either, although the create
#: call accepts it.
NOT_RETURNED_PHOTO = (*NOT_RETURNED, "background_music_config")

#: (asset_id, name, type, state, block_reason_code): the assets made-up configurations
#: use. A frozen job's model is the frozen one, a story the demo can tell.
LIBRARY: tuple[tuple[str, str, str, str, str | None], ...] = (
    ("sim-model-anna", "Anna (2D model)", "HUMAN_MODEL_2D", "ACTIVED", None),
    ("sim-model-ben", "Ben (2D model)", "HUMAN_MODEL_2D", "ACTIVED", None),
    ("sim-model-dora", "Dora (2D model)", "HUMAN_MODEL_2D", "BLOCK", "PORTRAIT_RIGHTS"),
    ("sim-voice-clara", "Clara (voice)", "VOICE_MODEL", "ACTIVED", None),
    ("sim-voice-dan", "Dan (voice)", "VOICE_MODEL", "ACTIVED", None),
)
_MODELS = ("sim-model-anna", "sim-model-ben")
_VOICES = ("sim-voice-clara", "sim-voice-dan")
FROZEN_MODEL = "sim-model-dora"


def photo_b64() -> str:
    """A small real image, Base64, as a photo job's ``human_image``."""
    return base64.b64encode(cover_png()).decode()


def made_up(asset_id: str, asset_name: str | None, *, photo: bool,
            frozen: bool) -> dict[str, Any]:
    """A plausible configuration for a job the create operation did not make: the same
    for the same job (chosen from its output asset id)."""
    pick = int(asset_id[:8], 16) if _is_hex(asset_id[:8]) else len(asset_id)
    text = f"Script of {asset_name or 'a video'}"
    config: dict[str, Any] = {
        "voice_config": {"voice_asset_id": _VOICES[pick % len(_VOICES)], "speed": 100,
                         "pitch": 100, "volume": 140},
        "shoot_scripts": [{"sequence_no": 0, "shoot_script": {
            "script_type": "TEXT", "text_config": {"text": text}}}],
    }
    if photo:
        config["human_image"] = photo_b64()
        config["video_config"] = {"codec": "H264", "bitrate": 8000, "frame_rate": "25"}
    else:
        config["model_asset_id"] = FROZEN_MODEL if frozen else _MODELS[pick % len(_MODELS)]
        config["video_config"] = {"clip_mode": "RESIZE", "codec": "H264", "bitrate": 8000,
                                  "width": 1920, "height": 1080, "frame_rate": "25"}
        config["background_music_config"] = None
    return config


def kept(body: dict[str, Any], *, photo: bool) -> dict[str, Any]:
    """What of a create body the detail shows back: all but :data:`NOT_RETURNED`, and
    the output asset, which the job's own ``output_asset_config`` shows."""
    dropped = {*(NOT_RETURNED_PHOTO if photo else NOT_RETURNED), "output_asset_config"}
    return {name: value for name, value in body.items() if name not in dropped}


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdefABCDEF" for c in text)
