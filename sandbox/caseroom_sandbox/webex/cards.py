"""Adaptive-card button presses: ``attachmentActions``.

A person presses an ``Action.Submit`` on a card message; Webex stores an attachment action (``type: submit``,
the button's ``data`` merged with the card's inputs as ``inputs``) and tells the card's author through its
``attachmentActions`` webhooks, whose ``data`` holds ids only. The author reads the action with
``GET /attachment/actions/{id}``; nobody else may.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from caseroom_sandbox.webex.model import Event, Person
from caseroom_sandbox.webex.state import Store
from caseroom_sandbox.webex.wire import WebexError, timestamp


@dataclass
class Action:
    id: str
    message_id: str
    room_id: str
    person_id: str
    author_id: str  # of the card message: the only one who may read the action
    inputs: dict[str, Any]
    created: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": "submit", "messageId": self.message_id, "inputs": self.inputs,
                "personId": self.person_id, "roomId": self.room_id, "created": self.created}  # fmt: skip


class CardActions:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.actions: dict[str, Action] = {}

    def submit(self, person: Person, message_id: str, inputs: dict[str, Any]) -> Action:
        s = self.store
        with s.lock:
            msg = s.messages.get(message_id)
            if msg is None or not msg.attachments:
                raise WebexError(404, "No card message with that id.")
            s.readable_room(person, msg.room_id)  # only someone who sees the card can press it
            action = Action(s.ids.make("ATTACHMENT_ACTION"), msg.id, msg.room_id, person.id, msg.person_id,
                            dict(inputs), timestamp())  # fmt: skip
            self.actions[action.id] = action
        data = {"id": action.id, "type": "submit", "messageId": msg.id, "personId": person.id,
                "roomId": msg.room_id, "created": action.created}  # fmt: skip
        s.emit(Event("attachmentActions", "created", person.id, msg.room_id, data, subject_id=msg.person_id))
        return action

    def get(self, caller: Person, action_id: str) -> Action:
        with self.store.lock:
            action = self.actions.get(action_id)
        if action is None or action.author_id != caller.id:
            raise WebexError(404, "The requested resource could not be found.")
        return action

    def clear(self) -> None:
        self.actions.clear()
