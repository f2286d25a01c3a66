"""The Slack emulator's Web API answers, checked against Slack's published OpenAPI (swagger 2.0) spec.

``specs/slack-web-api.json`` is an excerpt of ``slackapi/slack-api-specs`` (see ``specs/README.md``). Every method
is driven through the real ``slack_sdk`` WebClient over real HTTP and its ``response.data`` validated with
``jsonschema`` (Draft 4, what swagger 2.0 schemas are) against the method's published 200 schema; one error answer
is validated against the published error (``default``) schema.

Where the spec is known to be wrong against the live API, ``LIVE_API`` widens it, each entry with its reason (also
written down in ``specs/README.md``); the emulator follows the live API. Two readings of the result are checked.
*As published*, literally. And *strict*: Slack's generator writes "one of" as a tuple-form ``items: [A, B]`` on a
schema that is not an array (``objs_conversation``, ``objs_user``, the ``latest``/``bot_id``/``tz`` "X or null"
fields, the ``conversations.replies`` messages); JSON Schema ignores ``items`` for non-arrays, so literally those
schemas accept anything. The strict reading turns them into ``anyOf``, which is what they mean.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from caseroom_sandbox.server import ServerThread
from caseroom_sandbox.slack import SlackEmulator
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

SPEC: dict[str, Any] = json.loads((Path(__file__).parent / "specs" / "slack-web-api.json").read_text())
ADA = "ada@support.example"
KENJI = "kenji@support.example"

# The published spec has no bookmarks.* methods (they are newer than it); bookmarks.add is not validated here.
METHODS = [
    "auth.test", "conversations.create", "conversations.info", "conversations.invite", "conversations.history",
    "conversations.replies", "conversations.members", "conversations.setTopic", "conversations.kick",
    "conversations.archive", "users.lookupByEmail", "users.info", "chat.postMessage", "chat.postEphemeral",
    "files.info",
]  # fmt: skip


def one_of(*schemas: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": list(schemas)}


# Where the live Web API differs from the (2019-2020) published spec: (JSON pointer into the vendored document,
# change, value). "extend" adds properties to an object schema (a definition's name: all of its properties);
# "drop_required" removes names from its required list.
USER = {"$ref": "#/definitions/defs_user_id"}
# One file share, as Slack's file object documents it: the message (ts, and thread_ts for a reply) and its thread.
SHARES = {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                     "required": ["ts", "channel_name", "team_id"],
                                     "properties": {
                                         "ts": {"$ref": "#/definitions/defs_ts"},
                                         "thread_ts": {"$ref": "#/definitions/defs_ts"},
                                         "channel_name": {"type": "string"},
                                         "team_id": {"$ref": "#/definitions/defs_team"},
                                         "share_user_id": USER,
                                         "source": {"type": "string"},
                                         "reply_users": {"type": "array", "items": USER},
                                         "reply_users_count": {"type": "integer"},
                                         "reply_count": {"type": "integer"}}}}  # fmt: skip

LIVE_API: list[tuple[str, str, Any]] = [
    # Bot tokens: auth.test also answers bot_id (and app_id / enterprise_id on newer workspaces).
    ("/paths/~1auth.test/get/responses/200/schema", "extend", {"bot_id": {"$ref": "#/definitions/defs_bot_id"}}),
    # Paginated reads answer response_metadata (the spec's own examples show it, its schemas leave it out).
    ("/paths/~1conversations.history/get/responses/200/schema", "extend",
     {"response_metadata": {"$ref": "#/definitions/objs_response_metadata"}}),
    ("/paths/~1conversations.replies/get/responses/200/schema", "extend",
     {"response_metadata": {"$ref": "#/definitions/objs_response_metadata"}}),
    # Messages posted by apps carry app_id next to bot_id and bot_profile; the message schema predates it.
    ("/definitions/objs_message", "extend", {"app_id": {"$ref": "#/definitions/defs_app_id"}}),
    # Slack dropped the replies list from thread parents in 2019 (reply_users / reply_users_count / latest_reply
    # replaced it), and subscribed / last_read are only in user-token answers.
    ("/paths/~1conversations.replies/get/responses/200/schema/properties/messages/items/items/0", "drop_required",
     ["replies", "subscribed"]),
    # Both kinds of message in a thread also carry what any message carries (blocks, bot_id, files, ...).
    ("/paths/~1conversations.replies/get/responses/200/schema/properties/messages/items/items/0", "extend",
     "objs_message"),
    ("/paths/~1conversations.replies/get/responses/200/schema/properties/messages/items/items/1", "extend",
     "objs_message"),
    # Conversation objects now also carry context_team_id and updated (milliseconds).
    ("/definitions/objs_conversation/items/0", "extend", {"context_team_id": {"$ref": "#/definitions/defs_team"},
                                                          "updated": {"type": "integer"}}),
    # A file's shares are keyed by channel id, each a list of the messages sharing it there (the file object's
    # documented "shares"); the published schema, with no properties and none additional, allows only {}.
    ("/definitions/objs_file/properties/shares/properties/public", "keyed", ("^C[A-Z0-9]{2,}$", SHARES)),
    ("/definitions/objs_file/properties/shares/properties/private", "keyed", ("^[CG][A-Z0-9]{2,}$", SHARES)),
]  # fmt: skip


def pointer(doc: Any, ptr: str) -> Any:
    for part in ptr.lstrip("/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


def strict(node: Any) -> Any:
    """``items: [A, B]`` on a schema that is not an array schema means "A or B": make it ``anyOf``."""
    if isinstance(node, list):
        return [strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict(v) for k, v in node.items()}
    if isinstance(out.get("items"), list) and out.get("type") != "array":
        out["anyOf"] = out.pop("items")
    return out


def live_document() -> dict[str, Any]:
    """The vendored excerpt with the ``LIVE_API`` corrections applied."""
    doc = copy.deepcopy(SPEC)
    for ptr, change, value in LIVE_API:
        target = pointer(doc, ptr)
        if change == "extend":
            extra = pointer(doc, f"/definitions/{value}")["properties"] if isinstance(value, str) else value
            target["properties"] = {**extra, **target["properties"]}
        elif change == "keyed":
            pattern, schema = value
            target["patternProperties"] = {pattern: schema}
        elif change == "drop_required":
            target["required"] = [r for r in target["required"] if r not in value]
    return doc


LIVE = live_document()
URN = {"spec": "urn:slack-web-api:published", "strict": "urn:slack-web-api:strict"}
REGISTRY = Registry().with_resources([
    (URN["spec"], Resource.from_contents(LIVE, default_specification=DRAFT4)),
    (URN["strict"], Resource.from_contents(strict(LIVE), default_specification=DRAFT4)),
])  # fmt: skip


def response_schema(method: str, status: str) -> str:
    [verb] = SPEC["paths"][f"/{method}"]
    return f"#/paths/~1{method}/{verb}/responses/{status}/schema"


def problems(method: str, data: dict[str, Any], status: str = "200") -> list[str]:
    found = []
    for reading, urn in URN.items():
        validator = Draft4Validator({"$ref": urn + response_schema(method, status)}, registry=REGISTRY,
                                    format_checker=Draft4Validator.FORMAT_CHECKER)  # fmt: skip
        for err in validator.iter_errors(data):
            found.append(f"{reading}: {'/'.join(map(str, err.absolute_path)) or '<root>'}: {err.message[:300]}")
            found += [f"    {'/'.join(map(str, c.absolute_path))}: {c.message[:200]}" for c in (err.context or [])]
    return found


@pytest.fixture(scope="module")
def emu() -> SlackEmulator:
    emu = SlackEmulator(signing_secret="s", seed=1)
    emu.add_user(ADA, "Ada Agent")
    emu.add_user(KENJI, "Kenji Agent")
    return emu


@pytest.fixture(scope="module")
def server(emu: SlackEmulator) -> Iterator[ServerThread]:
    with ServerThread(emu.app) as srv:
        yield srv


@pytest.fixture(scope="module")
def answers(emu: SlackEmulator, server: ServerThread) -> dict[str, dict[str, Any]]:
    """Every method called once, in an order that gives each one something to show: method -> response.data."""
    client = WebClient(token=emu.bot_token, base_url=f"{server.url}/api/")
    out: dict[str, dict[str, Any]] = {}

    def keep(method: str, data: Any) -> dict[str, Any]:
        assert isinstance(data, dict) and data.get("ok") is True, (method, data)
        out[method] = data
        return data

    keep("auth.test", client.auth_test().data)
    channel = keep("conversations.create", client.conversations_create(name="case-00042").data)["channel"]["id"]
    ada = keep("users.lookupByEmail", client.users_lookupByEmail(email=ADA).data)["user"]["id"]
    kenji = client.users_lookupByEmail(email=KENJI).data["user"]["id"]  # type: ignore[index]
    keep("users.info", client.users_info(user=ada).data)
    keep("conversations.invite", client.conversations_invite(channel=channel, users=[ada, kenji]).data)
    keep("conversations.setTopic", client.conversations_setTopic(channel=channel, topic="Printer on fire").data)
    parent = keep("chat.postMessage", client.chat_postMessage(channel=channel, text="Case opened").data)["ts"]
    client.chat_postMessage(channel=channel, text="first reply", thread_ts=parent)
    upload = client.files_upload_v2(channel=channel, content=b"log line\n", filename="log.txt", title="log")
    keep("files.info", client.files_info(file=upload.data["file"]["id"]).data)  # type: ignore[index]
    keep("chat.postEphemeral", client.chat_postEphemeral(channel=channel, user=ada, text="only you").data)
    keep("conversations.history", client.conversations_history(channel=channel).data)
    keep("conversations.replies", client.conversations_replies(channel=channel, ts=parent).data)
    keep("conversations.members", client.conversations_members(channel=channel).data)
    keep("conversations.info", client.conversations_info(channel=channel).data)
    keep("conversations.kick", client.conversations_kick(channel=channel, user=kenji).data)
    keep("conversations.archive", client.conversations_archive(channel=channel).data)
    with pytest.raises(SlackApiError) as taken:
        client.conversations_create(name="case-00042")
    out["conversations.create:error"] = taken.value.response.data  # type: ignore[assignment]
    return out


def test_excerpt_covers_the_methods() -> None:
    assert sorted(p.lstrip("/") for p in SPEC["paths"]) == sorted(METHODS)
    Draft4Validator.check_schema({"definitions": SPEC["definitions"]})


@pytest.mark.parametrize("method", METHODS)
def test_answer_matches_published_schema(method: str, answers: dict[str, dict[str, Any]]) -> None:
    assert problems(method, answers[method]) == [], json.dumps(answers[method], indent=1)[:4000]


def test_error_answer_matches_published_error_schema(answers: dict[str, dict[str, Any]]) -> None:
    data = answers["conversations.create:error"]
    assert data["error"] == "name_taken"
    assert problems("conversations.create", data, "default") == [], data


def test_strict_reading_is_stricter() -> None:
    """Guard the strict reading: a channel without its required fields passes literally but not strictly."""
    bare = {"ok": True, "channel": {"id": "C0123456789"}}
    found = problems("conversations.info", bare)
    assert found and all(line.startswith(("strict", "    ")) for line in found)
