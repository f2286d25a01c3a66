"""`/case summary` and `/case search`: come up to speed on this case, and find what earlier cases learnt."""

from __future__ import annotations

from urllib.parse import quote

from bot import search, summary
from bot.commands import Invocation, Registry, Reply, UsageError
from bot.models import Role
from bot.services import Services

MAX_RESULTS = 5


def transcript_url(sv: Services, number: str) -> str:
    return f"{sv.settings.public_url}/cases/{quote(number, safe='')}/transcript"


family = Registry()  # this module's commands; the runtime merges the families (handlers.commands)


@family.command(
    "summary",
    usage="/case summary",
    summary="a one-screen brief of this case for someone joining it",
    who="members",
    details="Facts, people and roles, highlights, files and the last messages; at most 40 lines. Internal "
    "notes are shown to engineers only.",
    max_args=0,
    fast=True,
)
def case_summary(inv: Invocation) -> Reply:
    # The transcript page is for the support side (admins): others are pointed at /case timeline.
    url = transcript_url(inv.sv, inv.case.number) if inv.role == Role.ENGINEER else None
    with inv.sv.db.session() as s:
        text = summary.brief(s, inv.case, now=inv.sv.clock(), transcript_url=url, reader=inv.role)
    return Reply(text)


@family.command(
    "search",
    usage="/case search <words>",
    summary="find other cases whose messages, notes or subject contain these words",
    who="engineer",
    details="Every word must appear (word forms count: 'drops' finds 'dropped'). Shows up to "
    f"{MAX_RESULTS} cases, best first, with the passage that matched and the link to each case. "
    "Engineers only: other cases hold other customers' words.",
    min_args=1,
    fast=True,
)
def case_search(inv: Invocation) -> Reply:
    words = " ".join(inv.raw_args.split())
    if not search.terms(words):
        raise UsageError("Give at least one word to look for.")
    with inv.sv.db.session() as s:
        hits = search.search(s, words, limit=MAX_RESULTS, exclude_case_id=inv.case.id)
    if not hits:
        return Reply(f'No other case mentions "{words[:80]}".')
    return Reply(search.describe(hits, f'Cases matching "{words[:80]}":', inv.sv.stable_url))
