"""manifest.yaml creates the app the code needs: the slash command, interactivity,
Socket Mode, the workflow steps the code runs, and exactly the bot scopes of the Web API
methods the code calls."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.commands.parse import parse
from bot.commands.types import Help, Invalid
from bot.domain.steps import STEPS, ended_outputs
from bot.metastudio.models import Job
from bot.slack.listeners.shortcuts import CALLBACK_ID
from bot.views.help import USAGE_HINT

ROOT = Path(__file__).parents[1]
MANIFEST = yaml.safe_load((ROOT / "manifest.yaml").read_text())

#: Slack's method documentation: the bot scopes each method the code may call needs.
SCOPES_OF_METHOD = {
    "auth.test": set(),
    "users.info": {"users:read"},
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    "usergroups.users.list": {"usergroups:read"},
    "usergroups.list": {"usergroups:read"},
    # One scope per kind of conversation the bot may have posted in.
    "conversations.replies": {"channels:history", "groups:history", "im:history", "mpim:history"},
    "conversations.history": {"channels:history", "groups:history", "im:history", "mpim:history"},
    # slack_sdk's files_upload_v2: files.getUploadURLExternal + files.completeUploadExternal.
    "files.upload_v2": {"files:write"},
    "views.publish": set(),
    # Public and private channels the user is in (the types the Home tab asks for).
    "users.conversations": {"channels:read", "groups:read"},
    "conversations.open": {"im:write"},
    # A workflow step's completion, with the token of its execution.
    "functions.completeSuccess": set(),
    "functions.completeError": set(),
}
#: Scopes no method call shows: why each is asked for.
SCOPES_WITHOUT_A_CALL = {
    "commands": "the /videojobs slash command",
    "chat:write.public": "posting tracking messages in public channels without an invite",
    # chat.postMessage with a user id as the channel: the app's DM with that person.
    "im:write": "direct messages for `track … notify=me` and the Notify me button",
}
# WebClient methods (client.chat_postMessage(...)) and names passed to a call helper.
FAMILIES = ("auth|users|usergroups|chat|conversations|files|reactions|pins|team|bots|views"
            "|functions")
# ``_v2``: slack_sdk's files_upload_v2 helper; usergroups_users_list: underscores inside.
CALL = re.compile(
    rf"""\.((?:{FAMILIES})_[A-Za-z0-9_]+)\(|["']((?:{FAMILIES})_[A-Za-z]+(?:_v2)?)["']""")


#: Quoted names that look like a family's method but are not one: ``auth_type`` is a
#: field of MetaStudio's ``callback_config`` (bot/domain/recreate.py, the simulator).
NOT_METHODS = frozenset({"auth_type"})


def methods_called() -> set[str]:
    found = set()
    for path in (ROOT / "bot").rglob("*.py"):
        for called, named in CALL.findall(path.read_text()):
            if named in NOT_METHODS:
                continue
            # usergroups_users_list -> usergroups.users.list; files_upload_v2 stays a helper
            family, method = (called or named).split("_", 1)
            if not method.endswith("_v2"):
                method = method.replace("_", ".")
            found.add(f"{family}.{method}")
    return found


def test_every_called_method_is_known_to_this_test():
    assert methods_called() <= set(SCOPES_OF_METHOD), "add the new method's scopes above"
    assert {"chat.postMessage", "chat.update", "users.info"} <= methods_called()


def test_bot_scopes_are_exactly_what_the_code_needs():
    needed = set().union(*(SCOPES_OF_METHOD[m] for m in methods_called()))
    needed |= set(SCOPES_WITHOUT_A_CALL)
    assert set(MANIFEST["oauth_config"]["scopes"]["bot"]) == needed


def test_slash_command_interactivity_and_socket_mode():
    [command] = MANIFEST["features"]["slash_commands"]
    assert command["command"] == "/videojobs"
    assert command["usage_hint"] == USAGE_HINT
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
    assert MANIFEST["settings"]["socket_mode_enabled"] is True
    assert MANIFEST["features"]["bot_user"]["display_name"]


def test_the_command_escapes_so_user_groups_arrive_as_ids():
    [command] = MANIFEST["features"]["slash_commands"]
    assert command["should_escape"] is True
    escaped = parse("subscribe failed notify=<!subteam^S0ONCALL|@oncall>")
    assert getattr(escaped, "notify_group", None) == "S0ONCALL"


def test_home_tab_event_and_message_shortcut():
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True
    assert "app_home_opened" in MANIFEST["settings"]["event_subscriptions"]["bot_events"]
    [shortcut] = MANIFEST["features"]["shortcuts"]
    assert (shortcut["type"], shortcut["callback_id"]) == ("message", CALLBACK_ID)
    assert {"files.upload_v2", "views.publish", "users.conversations"} <= methods_called()


def test_every_usage_hint_example_is_a_real_command():
    examples = USAGE_HINT.strip("[]").split("|")
    for example in examples:
        command = parse(example.replace("ID", "26f06524-4f75").strip())
        assert not isinstance(command, Invalid | Help) or example.strip() == "help", example


def test_the_workflow_steps_are_the_ones_the_code_runs():
    functions = MANIFEST["functions"]
    assert tuple(functions) == STEPS
    assert "function_executed" in MANIFEST["settings"]["event_subscriptions"]["bot_events"]
    assert MANIFEST["settings"]["org_deploy_enabled"] is True  # Slack: org-ready apps only
    # Every input the code reads is declared (and nothing else).
    code = (ROOT / "bot/commands/steps.py").read_text()
    read = set(re.findall(r'inputs\.get\("([a-z_]+)"\)', code)) | {"user"}
    declared = {name for f in functions.values() for name in f["input_parameters"]}
    assert declared == read


def test_a_wait_s_outputs_are_declared_and_the_required_ones_always_there():
    outputs = MANIFEST["functions"]["wait_for_video_job"]["output_parameters"]
    full = Job.model_validate({
        "job_id": "j1", "state": "FAILED", "job_type": "2D_DIGITAL_HUMAN_VIDEO",
        "duration": 12.5, "create_time": "2026-01-01T10:00:00Z",
        "end_time": "2026-01-01T10:05:00Z", "error_info": {"error_code": "E", "error_msg": "m"},
        "output_asset_config": {"asset_name": "a", "cover_url": "https://c",
                                "preview_video_url": "https://p"}})
    assert set(ended_outputs(full)) == set(outputs)
    bare = ended_outputs(Job(job_id="j2", state="SUCCEED"))
    assert {n for n, p in outputs.items() if p.get("is_required")} <= set(bare)
