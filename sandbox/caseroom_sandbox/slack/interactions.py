"""Block Kit interactivity: a person clicks a button the app showed them, Slack POSTs ``block_actions``.

The payload is a form field ``payload`` holding JSON, signed like every request, sent to the app's
interactivity URL. Its ``response_url`` (5 posts within 30 minutes, like a slash command's) can answer in the
channel, answer privately, ``replace_original`` or ``delete_original`` the message that held the button.
Buttons are looked for in what the app showed the clicker privately (``chat.postEphemeral``, ephemeral
command answers) and in channel messages, newest first.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from caseroom_sandbox.slack.commands import Invocation
from caseroom_sandbox.slack.model import Channel, User
from caseroom_sandbox.slack.wire import SlackError

if TYPE_CHECKING:
    from caseroom_sandbox.slack import SlackEmulator


def buttons(blocks: Any) -> list[tuple[str, dict[str, Any]]]:
    """(block_id, element) for every button in ``blocks``."""
    found: list[tuple[str, dict[str, Any]]] = []
    for block in blocks if isinstance(blocks, list) else []:
        if isinstance(block, dict) and block.get("type") == "actions":
            found += [(str(block.get("block_id") or ""), e) for e in block.get("elements") or []
                      if isinstance(e, dict) and e.get("type") == "button"]  # fmt: skip
    return found


class Interactions:
    def __init__(self, emu: SlackEmulator) -> None:
        self.emu = emu
        self.store = emu.store

    def _shown_to(self, user: User, ch: Channel) -> list[dict[str, Any]]:
        """What ``user`` can see in ``ch`` that may hold buttons, newest first, as mutable records."""
        private = [e for e in self.emu.ephemerals() if e["channel"] == ch.id and e["user"] == user.id]
        answers = [r for r in self.emu.commands.responses if r["channel_id"] == ch.id
                   and (r["user_id"] == user.id or r["response_type"] == "in_channel")]  # fmt: skip
        shown = [r for r in private + answers if not r.get("deleted")]
        return sorted(shown, key=lambda r: r["at"], reverse=True)

    def click(self, user: User, ch: Channel, action_id: str) -> dict[str, Any]:
        url = self.emu.interactivity_url or self.emu.commands_url
        if not url:
            raise SlackError("no_interactivity_url", status=409)
        s = self.store
        with s.lock:
            for record in self._shown_to(user, ch):
                blocks = record.get("blocks", (record.get("body") or {}).get("blocks"))
                hit = [(b, e) for b, e in buttons(blocks) if e.get("action_id") == action_id]
                if hit:
                    break
            else:
                raise SlackError("button_not_found", status=404)
            block_id, button = hit[0]
            inv = Invocation(s.ids.make("", 11), s.ids.secret(), ch.id, user.id, "", "", origin=record)
            self.emu.commands.invocations[inv.id] = inv
        response_url = f"{self.emu.base_url()}actions/{s.team_id}/{inv.id}/{inv.secret}"
        # fmt: off
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user.id, "username": user.name, "name": user.name, "team_id": s.team_id},
            "api_app_id": s.app_id,
            "token": self.emu.verification_token,
            "container": {"type": "message", "message_ts": record.get("message_ts") or f"{record['at']:.6f}",
                          "channel_id": ch.id, "is_ephemeral": True},
            "trigger_id": f"{inv.id}.{s.ids.secret(12)}",
            "team": {"id": s.team_id, "domain": s.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": ch.id, "name": ch.name},
            "state": {"values": {}},
            "response_url": response_url,
            "actions": [{
                "action_id": action_id, "block_id": block_id, "type": "button",
                "text": button.get("text") or {"type": "plain_text", "text": action_id},
                "value": button.get("value", ""), "style": button.get("style"), "action_ts": f"{time.time():.6f}",
            }],
        }
        # fmt: on
        raw = urlencode({"payload": json.dumps(payload)}).encode()
        done = self.emu.dispatcher.send_now("interaction", url, raw, "application/x-www-form-urlencoded", payload)
        return {"status": done.status, "error": done.error, "response_url": response_url}
