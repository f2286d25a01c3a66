"""Recording test doubles of the two ports. They live here, never in the product.

State is kept in a JSON file guarded by a file lock, so several threads *and* several processes (replicas)
share one imaginary platform, and a test can read what they did after a process was killed.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from integrations.crm import CaseSnapshot, PermanentCRMError, TransientCRMError
from integrations.messaging import (
    Card,
    Confirmation,
    DownloadedFile,
    FileRef,
    HistoryMessage,
    Member,
    MemberOutcome,
    MemberResult,
    PermanentPlatformError,
    PostedFiles,
    RoomRef,
    RoomSpec,
    TransientPlatformError,
    Visibility,
)

_LOCK = threading.Lock()


class SharedState:
    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            path.write_text(json.dumps({"calls": [], "rooms": {}, "crm": {}, "faults": {}}))

    @contextmanager
    def edit(self) -> Iterator[dict[str, Any]]:
        # A lock file plus write-and-rename: a process SIGKILLed mid-edit leaves the old state intact.
        with _LOCK, open(f"{self.path}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = json.loads(self.path.read_text())
            yield data
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, self.path)

    def read(self) -> dict[str, Any]:
        with self.edit() as data:
            return data

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        return [c for c in self.read()["calls"] if method is None or c["method"] == method]

    def chaos(self, rate: float) -> None:
        """Every platform call fails transiently with probability ``rate`` (a flaky network, 429s, 5xx)."""
        with self.edit() as data:
            data["faults"]["*"] = data["faults"]["crm*"] = {"rate": rate}

    def set_fault(self, method: str, action: str, times: int = 1, **extra: Any) -> None:
        """``action``: "kill" (SIGKILL this process), "kill_after" (do the call, then die), "transient"."""
        with self.edit() as data:
            data["faults"][method] = {"action": action, "times": times, **extra}


class FakeMessenger:
    """A chat platform that honours the port's contract (find-or-create rooms by key) and records calls."""

    def __init__(self, state: SharedState, platform: str = "webex") -> None:
        self.state = state
        self.platform = platform

    def _call(self, method: str, **args: Any) -> None:
        action, retry_after = None, None
        with self.state.edit() as data:
            fault = data["faults"].get(method)
            chaos = data["faults"].get("*")
            if chaos and random.random() < chaos["rate"]:
                action = "transient"
            elif fault and fault["times"] > 0:
                fault["times"] -= 1  # persisted before acting, so a restarted process does not die again
                action, retry_after = fault["action"], fault.get("retry_after")
            else:
                data["calls"].append({"method": method, **args})
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if action == "transient":
            raise TransientPlatformError(f"{method}: simulated 429", retry_after=retry_after)
        if action == "permanent":
            raise PermanentPlatformError(f"{method}: simulated refusal")

    def _after(self, method: str) -> None:
        with self.state.edit() as data:
            fault = data["faults"].get(f"{method}:after")
            if fault and fault["times"] > 0:
                fault["times"] -= 1
                die = True
            else:
                die = False
        if die:
            os.kill(os.getpid(), signal.SIGKILL)

    def ensure_room(self, spec: RoomSpec) -> RoomRef:
        self._call("ensure_room", key=spec.key, title=spec.title)
        with self.state.edit() as data:
            room = data["rooms"].get(spec.key)
            if room is None:
                room = {"id": f"room-{spec.key}", "title": spec.title, "members": {}, "messages": [], "archived": False}
                data["rooms"][spec.key] = room
                data.setdefault("created", []).append(spec.key)
        self._after("ensure_room")
        return RoomRef(self.platform, room["id"], f"https://chat.example/{room['id']}", spec.key)

    def prepare_room(self, room_id: str, spec: RoomSpec) -> None:
        self._call("prepare_room", room_id=room_id, topic=spec.topic)
        self._after("prepare_room")

    def _room(self, data: dict[str, Any], room_id: str) -> dict[str, Any]:
        return next(r for r in data["rooms"].values() if r["id"] == room_id)

    def room_link(self, room_id: str) -> str:
        return f"https://chat.example/{room_id}"

    def add_member(self, room_id: str, email: str, *, external: bool = False) -> MemberResult:
        self._call("add_member", room_id=room_id, email=email, external=external)
        with self.state.edit() as data:
            room = self._room(data, room_id)
            if email.endswith("@refused.example"):
                return MemberResult(MemberOutcome.REFUSED, "the platform refused this address")
            already = email in room["members"]
            room["members"][email] = {"id": f"user-{email}", "name": email.split("@")[0]}
            if not already:
                data.setdefault("added", []).append([room["id"], email])
        self._after("add_member")
        return MemberResult(MemberOutcome.ALREADY if already else MemberOutcome.ADDED, member_id=f"user-{email}")

    def remove_member(self, room_id: str, member_id: str) -> None:
        self._call("remove_member", room_id=room_id, member_id=member_id)
        with self.state.edit() as data:
            room = self._room(data, room_id)
            room["members"] = {e: m for e, m in room["members"].items() if m["id"] != member_id}

    def list_members(self, room_id: str) -> list[Member]:
        with self.state.edit() as data:
            room = self._room(data, room_id)
            return [Member(m["id"], e, m["name"]) for e, m in room["members"].items()]

    def post(self, room_id: str, text: str, *, thread_id: str | None = None) -> str:
        self._call("post", room_id=room_id, text=text)
        with self.state.edit() as data:
            room = self._room(data, room_id)
            room["messages"].append({"id": f"m{len(room['messages'])}", "text": text, "thread": thread_id})
            mid: str = room["messages"][-1]["id"]
        self._after("post")
        return mid

    def post_files(self, room_id: str, text: str, files: Sequence[DownloadedFile]) -> PostedFiles:
        mid = self.post(room_id, text + "".join(f"\n[file] {f.name}" for f in files))
        return PostedFiles((mid,), tuple(FileRef(f"{mid}-f{n}", f.name, len(f.content), f.mime)
                                         for n, f in enumerate(files)))  # fmt: skip

    def post_card(self, room_id: str, card: Card) -> str:
        return self.post(room_id, card.as_text())

    def reply_private(self, room_id: str, user_id: str, text: str, *, reply_token: str | None = None) -> None:
        self._call("reply_private", room_id=room_id, user_id=user_id, text=text)

    def ask_confirmation(self, room_id: str, user_id: str, confirmation: Confirmation, *,
                         reply_token: str | None = None) -> bool:  # fmt: skip
        return False  # a double without buttons: destructive commands run as typed

    def history(self, room_id: str) -> Iterator[HistoryMessage]:
        with self.state.edit() as data:
            room = self._room(data, room_id)
            messages = list(room["messages"])
        for m in messages:
            yield HistoryMessage(m["id"], "bot", "bot@caseroom", "CaseRoom", m["text"], datetime.now(UTC))

    def download_file(self, file: FileRef) -> DownloadedFile:
        self._call("download_file", file_id=file.file_id)
        return DownloadedFile(file.name, file.mime or "application/octet-stream", b"content of " + file.name.encode())

    def archive(self, room_id: str) -> None:
        self._call("archive", room_id=room_id)
        with self.state.edit() as data:
            self._room(data, room_id)["archived"] = True

    def visibility(self) -> Visibility:
        return Visibility()


class FakeCRM:
    name = "fakecrm"
    comment_bytes = 4000

    def __init__(self, state: SharedState) -> None:
        self.state = state
        self.cases: dict[str, CaseSnapshot] = {}

    def _record(self, method: str, **args: Any) -> None:
        with self.state.edit() as data:
            chaos = data["faults"].get("crm*")
            refused = data["faults"].get(f"crm.{method}", {}).get("refuse_case") == args.get("crm_id")
            flaky = bool(chaos and random.random() < chaos["rate"])
            if not flaky and not refused:
                data["calls"].append({"method": f"crm.{method}", **args})
        if refused:  # set_fault("crm.<method>", "permanent", refuse_case=crm_id): that case always fails
            raise PermanentCRMError(f"crm.{method}: simulated refusal of case {args.get('crm_id')}")
        if flaky:
            raise TransientCRMError(f"crm.{method}: simulated 503")

    def read_case(self, crm_id: str) -> CaseSnapshot | None:
        return self.cases.get(crm_id)

    def write_room_url(self, crm_id: str, url: str) -> None:
        self._record("write_room_url", crm_id=crm_id, url=url)

    def add_comment(self, crm_id: str, text: str) -> None:
        self._record("add_comment", crm_id=crm_id, text=text)

    def attach_file(self, crm_id: str, name: str, content: bytes, mime: str) -> str:
        text = content.decode() if mime.startswith(("text/", "application/json")) else None
        self._record("attach_file", crm_id=crm_id, name=name, size=len(content), mime=mime, text=text)
        return f"file-{name}"
