"""Follow the sun: the rota (``rota``), the handoff step (``handoff``) and who takes a case over next."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.config import Settings
from bot.jobs import PermanentJobError
from bot.shifts.rota import Region, Rota, RotaError, Shift, load
from integrations.crm import CRMPort, Person

__all__ = ["QueueDirectory", "Region", "Rota", "RotaError", "Shift", "follows_the_sun", "on_duty", "rota_for"]

_cache: dict[str, tuple[float, Rota]] = {}
_cache_lock = threading.Lock()


@runtime_checkable
class QueueDirectory(Protocol):
    """What a CRM adapter offers to serve a region whose roster is a CRM queue (optional capability)."""

    def queue_members(self, queue: str) -> list[Person]:
        """The queue's engineers (``integrations.crm.Person``), the one to take the next case first."""
        ...


def rota_for(settings: Settings) -> Rota | None:
    """The rota named by ``CASEROOM_SHIFTS_FILE``; re-read when the file changes, so edits need no restart."""
    path = settings.shifts_file
    if not path:
        return None
    mtime = os.stat(path).st_mtime
    with _cache_lock:
        cached = _cache.get(path)
        if cached and cached[0] == mtime:
            return cached[1]
    rota = load(path)
    with _cache_lock:
        _cache[path] = (mtime, rota)
    return rota


def follows_the_sun(settings: Settings, priority: str) -> bool:
    wanted = settings.follow_the_sun_priorities
    return wanted is None or priority.strip().lower() in wanted


def upcoming(rota: Rota, after: datetime) -> list[Shift]:
    """Each region's next shift after ``after``, soonest first."""
    found = [s for s in (r.next_shift(after) for r in rota.regions) if s is not None]
    return sorted(found, key=lambda s: s.start)


def on_duty(shift: Shift, crms: Iterable[CRMPort]) -> Person | None:
    """Who covers ``shift``: the first available roster engineer, or the first member of its CRM queue (in the
    CRM, among those configured, that keeps queues)."""
    queue = shift.region.queue
    if not queue:
        return shift.engineer()
    directory = next((crm for crm in crms if isinstance(crm, QueueDirectory)), None)
    if directory is None:
        raise PermanentJobError(
            f"region {shift.region.name} is served by the CRM queue {queue!r}, "
            "but no configured CRM can list queue members; give the region a roster instead"
        )
    members = directory.queue_members(queue)
    return members[0] if members else None


def next_engineer(rota: Rota, crms: Iterable[CRMPort], now: datetime, *, besides: str | None) -> Person | None:
    """Who takes over now: an engineer on duty at ``now``, else the one of the soonest shift to start;
    never ``besides`` (the engineer handing over)."""
    current = [s for s in (r.shift_at(now) for r in rota.regions) if s is not None]
    for shift in sorted(current, key=lambda s: s.start, reverse=True) + upcoming(rota, now):
        person = on_duty(shift, crms)
        if person is not None and person.email.lower() != (besides or "").lower():
            return person
    return None
