"""manifest.yaml stays inside Slack's published manifest schema, so pasting it into
"Create New App -> From a manifest" is never refused.

The limits below are read from slackapi/manifest-schema's
``schemas/manifest.schema.1.0.0.json`` (the schema Slack applies to a manifest without
``_metadata.major_version`` or with major version 1), as of commit c50cfa8, 2026-07-21,
and written here by hand so the test needs no network. Only the sections this app uses
are encoded; every object the schema closes (``additionalProperties: false``) lists its
keys, so a misspelt key is caught too. A section the manifest starts to use must be
added here first (the last test fails until it is).

Functions (custom workflow steps) are the root ``functions`` object
(``app-manifests.v1.hermes.functions``): at most 50, keyed by callback id, each closed
with title, description, input_parameters and output_parameters, all required; each
parameters object maps a name to a parameter that needs ``type`` and is open
(``hermes.types.type``: title, description, is_required, is_hidden, hint known). That
form allows 50 parameters and any type string; the schema's other form of the same
functions (``features.functions``, ``slack-functions.parameter``) allows 20 inputs and 20
outputs and names the types Slack knows. A manifest is held to both, the stricter, and
to what Slack's Bolt custom-step tutorial adds (https://docs.slack.dev/tools/bolt-js/
tutorials/custom-steps, the same for Python): a callback id of at most 100 characters, a
title of at most 255.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[1]
MANIFEST = yaml.safe_load((ROOT / "manifest.yaml").read_text())
URL = r"^https?://"


@dataclass(frozen=True)
class Text:
    min: int = 0
    max: int | None = None
    pattern: str | None = None
    enum: tuple[str, ...] = ()


@dataclass(frozen=True)
class Bool:
    pass


@dataclass(frozen=True)
class Obj:
    keys: dict[str, Any]
    required: tuple[str, ...] = ()
    #: Open objects (``additionalProperties`` not false) accept other keys.
    closed: bool = True


@dataclass(frozen=True)
class Props:
    """An object keyed by any name (``patternProperties: {".*": …}``)."""

    value: Any
    min: int = 0
    max: int | None = None
    #: The longest key (a function's callback id).
    key_max: int | None = None


@dataclass(frozen=True)
class Items:
    item: Any
    min: int = 0
    max: int | None = None
    unique: bool = False


#: ``slack-functions.parameter``'s ``type`` enum.
PARAMETER_TYPES = (
    "integer", "number", "boolean", "string", "object", "array",
    "slack#/types/user_context", "slack#/types/user_permission", "slack#/types/user_id",
    "slack#/types/channel_id", "slack#/types/usergroup_id", "slack#/types/timestamp",
    "slack#/types/blocks", "slack#/types/credential/oauth2", "slack#/types/date",
    "slack#/types/interactivity", "slack#/types/rich_text", "slack#/types/form_input",
    "slack#/types/form_input_object", "slack#/types/message_ts",
    "slack#/types/message_context",
)
#: ``features.functions``: input_parameters and output_parameters hold up to 20 items.
MAX_PARAMETERS = 20
PARAMETERS = Props(Obj({
    "type": Text(enum=PARAMETER_TYPES), "title": Text(), "description": Text(),
    "is_required": Bool(), "is_hidden": Bool(), "hint": Text(),
}, required=("type",), closed=False), 0, MAX_PARAMETERS)


@dataclass(frozen=True)
class Schema:
    """The subset of schema 1.0.0 for the sections manifest.yaml uses."""

    root: Obj = field(default_factory=lambda: Obj({
        "_metadata": Obj({"schema_version": None, "min_version": None,
                          "major_version": None, "minor_version": None}),
        "display_information": Obj({
            "name": Text(1, 35),
            "description": Text(1, 140),
            "background_color": Text(4, 7, r"^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"),
            "long_description": Text(175, 4000),
        }, required=("name",)),
        "features": Obj({
            "app_home": Obj({"home_tab_enabled": Bool(), "messages_tab_enabled": Bool(),
                             "messages_tab_read_only_enabled": Bool()}),
            "bot_user": Obj({"display_name": Text(1, 80), "always_online": Bool()},
                            required=("display_name",)),
            "shortcuts": Items(Obj({
                "name": Text(1, 24),
                "type": Text(enum=("message", "global")),
                "callback_id": Text(1, 255),
                "description": Text(1, 150),
            }, required=("name", "type", "callback_id", "description")), 1, 10),
            "slash_commands": Items(Obj({
                "command": Text(2, 32, r"^/"),
                "url": Text(0, 3000, URL),
                "description": Text(1, 2000),
                "usage_hint": Text(1, 1000),
                "should_escape": Bool(),
            }, required=("command", "description")), 1, 50),
        }),
        "oauth_config": Obj({
            "scopes": Obj({"bot": Items(Text(0, 50), 0, 255),
                           "user": Items(Text(0, 50), 0, 255)}),
        }),
        "settings": Obj({
            "event_subscriptions": Obj({
                "request_url": Text(0, 3500, URL),
                "bot_events": Items(Text(0, 50), 0, 100, unique=True),
                "user_events": Items(Text(0, 50), 0, 100, unique=True),
                "metadata_subscriptions": Items(Obj({
                    "app_id": Text(), "event_type": Text(0, 50),
                }, required=("app_id", "event_type")), 1, 20, unique=True),
            }),
            "interactivity": Obj({
                "is_enabled": Bool(),
                "request_url": Text(0, 3500, URL),
                "message_menu_options_url": Text(0, 3500, URL),
            }, required=("is_enabled",)),
            "org_deploy_enabled": Bool(),
            "socket_mode_enabled": Bool(),
            "token_rotation_enabled": Bool(),
            "function_runtime": Text(),
        }),
        "functions": Props(Obj({
            "title": Text(1, 255), "description": Text(),
            "input_parameters": PARAMETERS, "output_parameters": PARAMETERS,
        }, required=("title", "description", "input_parameters", "output_parameters")),
            0, 50, key_max=100),
    }, required=("display_information",)))


def problems(value: Any, rule: Any, where: str = "") -> list[str]:
    """Every way ``value`` breaks ``rule``, each naming its place in the manifest."""
    if rule is None:
        return []
    if isinstance(rule, Bool):
        return [] if isinstance(value, bool) else [f"{where}: not a boolean"]
    if isinstance(rule, Text):
        if not isinstance(value, str):
            return [f"{where}: not a string"]
        found = []
        if len(value) < rule.min:
            found.append(f"{where}: {len(value)} characters, at least {rule.min}")
        if rule.max is not None and len(value) > rule.max:
            found.append(f"{where}: {len(value)} characters, at most {rule.max}")
        if rule.pattern and not re.search(rule.pattern, value):
            found.append(f"{where}: does not match {rule.pattern}")
        if rule.enum and value not in rule.enum:
            found.append(f"{where}: not one of {rule.enum}")
        return found
    if isinstance(rule, Props):
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        found = [p for key, item in value.items()
                 for p in problems(item, rule.value, f"{where}.{key}")]
        found += [f"{where}.{key}: a key of {len(key)} characters, at most {rule.key_max}"
                  for key in value if rule.key_max is not None and len(key) > rule.key_max]
        if len(value) < rule.min or (rule.max is not None and len(value) > rule.max):
            found.append(f"{where}: {len(value)} properties, allowed {rule.min}..{rule.max}")
        return found
    if isinstance(rule, Items):
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        found = [p for i, item in enumerate(value)
                 for p in problems(item, rule.item, f"{where}[{i}]")]
        if len(value) < rule.min or (rule.max is not None and len(value) > rule.max):
            found.append(f"{where}: {len(value)} items, allowed {rule.min}..{rule.max}")
        if rule.unique and len({repr(v) for v in value}) != len(value):
            found.append(f"{where}: items repeat")
        return found
    assert isinstance(rule, Obj)
    if not isinstance(value, dict):
        return [f"{where}: not an object"]
    found = [f"{where}.{key}: required" for key in rule.required if key not in value]
    for key, item in value.items():
        if key not in rule.keys:
            if rule.closed:
                found.append(f"{where}.{key}: not a key the schema knows here")
            continue
        found += problems(item, rule.keys[key], f"{where}.{key}")
    return found


def test_manifest_yaml_is_inside_every_limit_of_the_schema() -> None:
    assert problems(MANIFEST, Schema().root, "manifest") == []


@pytest.mark.parametrize(("path", "value", "says"), [
    (("features", "shortcuts", 0, "name"), "Track jobs in this message", "at most 24"),
    (("display_information", "name"), "v" * 36, "at most 35"),
    (("display_information", "long_description"), "too short", "at least 175"),
    (("display_information", "background_color"), "navy", "does not match"),
    (("features", "slash_commands", 0, "command"), "videojobs", "does not match"),
    (("features", "slash_commands", 0, "usage_hint"), "u" * 1001, "at most 1000"),
    (("features", "shortcuts", 0, "type"), "messages", "not one of"),
    (("features", "shortcuts", 0, "callbak_id"), "x", "not a key"),
    (("settings", "interactivity", "request_url"), "ftp://host/slack/events", "does not match"),
    (("settings", "event_subscriptions", "bot_events"), ["e" * 51], "at most 50"),
    (("oauth_config", "scopes", "bot"), [f"scope:{i}" for i in range(256)], "256 items"),
    (("settings", "event_subscriptions", "bot_events"), ["function_executed"] * 2,
     "items repeat"),
    (("functions",), {f"step_{i}": {"title": "t", "description": "d", "input_parameters": {},
                                    "output_parameters": {}} for i in range(51)},
     "51 properties"),
    (("functions", "get_video_job", "callback_id"), "get_video_job", "not a key"),
    (("functions", "s" * 101), {"title": "t", "description": "d", "input_parameters": {},
                                "output_parameters": {}}, "a key of 101 characters"),
    (("functions", "get_video_job", "title"), "t" * 256, "at most 255"),
    (("functions", "get_video_job", "input_parameters", "job_id", "type"), "url",
     "not one of"),
    (("functions", "get_video_job", "input_parameters"),
     {f"p{i}": {"type": "string"} for i in range(21)}, "21 properties"),
    (("functions", "get_video_job", "output_parameters", "state"), {"title": "State"},
     ".type: required"),
    (("functions", "cancel_video_job", "output_parameters", "state", "is_required"), "yes",
     "not a boolean"),
])
def test_each_limit_catches_a_manifest_slack_would_refuse(
        path: tuple[Any, ...], value: Any, says: str) -> None:
    broken: Any = yaml.safe_load((ROOT / "manifest.yaml").read_text())
    holder = broken
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = value
    found = problems(broken, Schema().root, "manifest")
    assert any(says in p for p in found), found


def test_a_function_without_its_outputs_is_refused() -> None:
    broken: Any = yaml.safe_load((ROOT / "manifest.yaml").read_text())
    del broken["functions"]["list_failed_video_jobs"]["output_parameters"]
    assert problems(broken, Schema().root, "manifest") == [
        "manifest.functions.list_failed_video_jobs.output_parameters: required"]


def test_every_section_the_manifest_uses_is_encoded_here() -> None:
    """A new section (say ``workflows``) gets its limits above before it is used."""
    schema = Schema().root
    assert set(MANIFEST) <= set(schema.keys)
    for section in ("features", "settings", "oauth_config"):
        encoded = schema.keys[section].keys
        assert set(MANIFEST[section]) <= set(encoded), section
