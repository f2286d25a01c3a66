"""`caseroom demo`: one whole case against the sandbox, narrated step by step.

CaseRoom runs unchanged (HTTP, workers, plugins) on a temporary SQLite database; the three emulators play
Salesforce, Webex and the people. Each step acts through an emulator's control API, then waits for what a
person would notice, and prints it.
"""

from __future__ import annotations

import base64
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import httpx
from rich.console import Console

from bot.config import load_settings
from bot.runtime import Runtime
from caseroom_sandbox.launch import CUSTOMER, Sandbox, launch
from caseroom_sandbox.server import ServerThread, listen

console = Console(highlight=False)


class DemoFailed(Exception):
    pass


def wait(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise DemoFailed(f"timed out waiting for: {what}")


class Demo:
    def __init__(self, sb: Sandbox, rt: Runtime, url: str) -> None:
        self.sb, self.rt, self.url = sb, rt, url
        self.webex: Any = sb.webex
        self.sf: Any = sb.salesforce
        self.n = 0

    def step(self, title: str) -> None:
        self.n += 1
        console.print(f"\n[bold]{self.n}. {title}[/bold]")

    def say(self, text: str) -> None:
        for line in text.splitlines() or [""]:
            console.print(f"   {line}")

    def room(self, number: str) -> dict[str, Any] | None:
        rooms = [r for r in self.webex.snapshot()["rooms"] if r["title"].startswith(f"Case {number}")]
        return rooms[0] if rooms else None

    def texts(self, room_id: str) -> list[str]:
        r = httpx.get(f"{self.sb.urls['webex']}/_sandbox/rooms/{room_id}/messages", timeout=10)
        return [m.get("text") or "" for m in r.json()["items"]]

    def act(self, path: str, **body: Any) -> dict[str, Any]:
        r = httpx.post(f"{self.sb.urls['webex']}/_sandbox/{path}", json=body, timeout=10)
        r.raise_for_status()
        return r.json() if r.content else {}

    def new_lines(self, room_id: str, seen: int, what: str, expect: Callable[[list[str]], bool]) -> int:
        texts = wait(what, lambda: (t := self.texts(room_id)) and expect(t[seen:]) and t)
        for t in texts[seen:]:
            self.say(f"room> {t}")
        return len(texts)

    def run(self) -> None:
        ada, kenji = self.sb.crm_users["ada@support.example"], self.sb.crm_users["kenji@support.example"]
        self.step("Salesforce: Carol opens a case; Ada (Amsterdam) owns it")
        case = self.sf.open_case("VPN tunnel drops every hour", "Since the firmware upgrade on Monday.",
                                 CUSTOMER[0], CUSTOMER[1], ada, priority="High")  # fmt: skip
        number = case["CaseNumber"]
        self.say(f"case {number} ({case['Id']}); an Outbound Message goes to {self.url}/webhooks/salesforce")
        room = wait("the Webex space", lambda: self.room(number))
        self.say(f"Webex space: {room['title']!r}")
        members = wait("engineer and customer in the space",
                       lambda: (m := {x["email"] for x in self.room(number)["members"]})  # type: ignore[index]
                       >= {CUSTOMER[0], "ada@support.example"} and m)  # fmt: skip
        self.say(f"members: {', '.join(sorted(members))}")
        stable = httpx.get(f"{self.url}/rooms/{number}")
        self.say(f"stable URL {self.url}/rooms/{number} -> {stable.status_code} {stable.headers.get('location')}")
        url_on_case = wait("the room URL on the case", lambda: self._case(case["Id"]).get("Room_URL__c"))
        self.say(f"Salesforce Room_URL__c = {url_on_case}")
        seen = self.new_lines(room["id"], 0, "the welcome", lambda t: any(x.startswith("Welcome") for x in t))

        self.step("Carol writes in the room and uploads a packet capture")
        self.act("act/message", as_email=CUSTOMER[0], room_id=room["id"], text="It dropped again at 14:02 CET.")
        self.act("act/message", as_email=CUSTOMER[0], room_id=room["id"], text="Capture attached.", file={
            "name": "tunnel.pcap", "mime": "application/vnd.tcpdump.pcap",
            "content_b64": base64.b64encode(os.urandom(48_000)).decode()})  # fmt: skip
        seen = self.new_lines(room["id"], seen, "the upload announcement", lambda t: any("uploaded" in x for x in t))

        self.step("Ada asks @CaseRoom status")
        self.act("act/message", as_email="ada@support.example", room_id=room["id"], text="status", mention_bot=True)
        answer = wait("the status answer", lambda: self._direct_to("ada@support.example"))
        self.say(answer)

        self.step("Follow the sun: the case moves to Kenji (Tokyo)")
        self.sf.update_case(case["Id"], OwnerId=kenji)
        seen = self.new_lines(room["id"], seen, "the handoff", lambda t: any("Kenji" in x for x in t))

        self.step("Salesforce: the case is closed")
        self.sf.update_case(case["Id"], Status="Closed")
        filed = wait("the transcript on the case", lambda: self._filed(case["Id"]), timeout=60)
        self.new_lines(room["id"], seen, "the closing note", lambda t: any("closed" in x for x in t))
        for f in filed.get("files", []):
            self.say(f"filed on the case: {f.get('Title') or f.get('title')} ({f.get('size', '?')} bytes)")
        for c in filed.get("comments", []):
            self.say(f"case comment: {(c.get('CommentBody') or '').splitlines()[0][:100]}")
        final = wait("an empty, locked space", lambda: (r := self.room(number)) and r.get("isAnnouncementOnly") and r)
        self.say(f"space now: members {[m['email'] for m in final['members']]}, announcement-only")
        console.print(f"\n[green]Demo complete:[/green] case {number} went from open to closed in the sandbox.")

    def _filed(self, case_id: str) -> dict[str, Any] | None:
        c = self._case(case_id)
        titles = [f.get("Title") or f.get("title") or "" for f in c.get("files", [])]
        # The summary comment is written after the files; wait for both so the output is complete.
        summary = any("transcript for case" in (x.get("CommentBody") or "") for x in c.get("comments", []))
        return c if summary and any("transcript" in t for t in titles) else None

    def _case(self, case_id: str) -> dict[str, Any]:
        ca = self.sb.env["REQUESTS_CA_BUNDLE"]
        r = httpx.get(f"{self.sb.urls['salesforce']}/_sandbox/cases/{case_id}", verify=ca)
        r.raise_for_status()
        data: dict[str, Any] = r.json()
        return data

    def _direct_to(self, email: str) -> str | None:
        for room in self.webex.snapshot()["rooms"]:
            if room.get("type") == "direct" and email in {m["email"] for m in room["members"]}:
                texts = self.texts(room["id"])
                return texts[-1] if texts else None
        return None


def run_demo() -> int:
    sock = listen()
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    sb = launch(url, seed=42)
    os.environ.update(sb.env)  # the CA bundle must reach every requests session in this process
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(CASEROOM_DATABASE_URL=f"sqlite:///{tmp}/demo.db", CASEROOM_PUBLIC_URL=url,
                                 CASEROOM_DEFAULT_PLATFORM="webex")  # fmt: skip
        rt = Runtime(settings)
        server = ServerThread(rt.app, sock=sock).start()
        rt.start_background()
        try:
            console.print(f"CaseRoom on {url}; sandbox: " + ", ".join(f"{k} {v}" for k, v in sb.urls.items()))
            Demo(sb, rt, url).run()
            return 0
        except DemoFailed as exc:
            console.print(f"[red]demo failed: {exc}[/red]")
            console.print(f"jobs: {rt.queue.counts()}")
            return 1
        finally:
            rt.stop()
            server.stop()
            sb.stop()
