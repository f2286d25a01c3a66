"""The follow-the-sun rota: regions, their working hours in local time, and who is on duty when.

Every instant is computed from the region's local wall clock through ``zoneinfo``: a shift that starts at
08:00 in Amsterdam starts at 08:00 Amsterdam time on both sides of a DST change, and the time zone
database (not arithmetic on offsets) says which UTC instant that is. Holidays are local dates.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from integrations.crm import Person

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
# A region whose holidays and days leave it without work for longer than this has no next shift.
HORIZON_DAYS = 400


class RotaError(ValueError):
    """The shifts file is wrong; the message names the region and the field."""


@dataclass(frozen=True)
class RosterEntry:
    person: Person
    days: frozenset[int]  # weekdays (Mon = 0) this engineer covers the region's shift
    away: frozenset[date]  # local dates off (leave), on top of the region's holidays

    def available(self, day: date) -> bool:
        return day.weekday() in self.days and day not in self.away


@dataclass(frozen=True)
class Shift:
    region: Region
    day: date  # the local date the shift starts on
    start: datetime  # UTC
    end: datetime  # UTC

    @property
    def local_start(self) -> datetime:
        return self.start.astimezone(self.region.tz)

    @property
    def key(self) -> str:
        """Identity of this shift start: the region and its local wall-clock start, with the offset."""
        return f"{self.region.name}@{self.local_start.isoformat(timespec='minutes')}"

    def engineer(self) -> Person | None:
        """Who covers this shift from the roster; ``None`` for a queue roster (the CRM answers)."""
        return self.region.engineer_on(self.day)


@dataclass(frozen=True)
class Region:
    name: str
    tz: ZoneInfo
    start: time
    end: time  # not after ``start``: the shift ends on the next local day (night shift)
    days: frozenset[int]
    holidays: frozenset[date]
    roster: tuple[RosterEntry, ...] = ()
    queue: str | None = None  # a CRM queue whose first member is on duty, instead of a roster

    def works_on(self, day: date) -> bool:
        return day.weekday() in self.days and day not in self.holidays

    def shift_on(self, day: date) -> Shift | None:
        if not self.works_on(day):
            return None
        start = datetime.combine(day, self.start, tzinfo=self.tz)
        end_day = day if self.end > self.start else day + timedelta(days=1)
        end = datetime.combine(end_day, self.end, tzinfo=self.tz)
        return Shift(self, day, start.astimezone(UTC), end.astimezone(UTC))

    def shift_at(self, at: datetime) -> Shift | None:
        """The shift under way at ``at`` (a night shift may have started on the previous local day)."""
        today = at.astimezone(self.tz).date()
        for day in (today, today - timedelta(days=1)):
            shift = self.shift_on(day)
            if shift and shift.start <= at < shift.end:
                return shift
        return None

    def next_shift(self, after: datetime) -> Shift | None:
        """The first shift that starts strictly after ``after``."""
        day = after.astimezone(self.tz).date() - timedelta(days=1)
        for _ in range(HORIZON_DAYS):
            shift = self.shift_on(day)
            if shift and shift.start > after:
                return shift
            day += timedelta(days=1)
        return None

    def starts_between(self, since: datetime, until: datetime) -> list[Shift]:
        """Shifts that start in ``(since, until]``: what a scheduler tick at ``until`` must hand over."""
        found: list[Shift] = []
        shift = self.next_shift(since)
        while shift is not None and shift.start <= until:
            found.append(shift)
            shift = self.next_shift(shift.start)
        return found

    def engineer_on(self, day: date) -> Person | None:
        return next((e.person for e in self.roster if e.available(day)), None)


@dataclass(frozen=True)
class Rota:
    regions: tuple[Region, ...]

    def region(self, name: str) -> Region | None:
        return next((r for r in self.regions if r.name.lower() == name.lower()), None)

    def person(self, email: str) -> Person | None:
        """A roster entry by e-mail: gives a name and time zone to an address typed in a room."""
        email = email.lower()
        return next((e.person for r in self.regions for e in r.roster if e.person.email == email), None)


# -- loading ---------------------------------------------------------------------------------------
def load(path: str | Path) -> Rota:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RotaError(f"{path}: {exc}") from exc
    return parse(data)


def parse(data: dict[str, Any]) -> Rota:
    raw = data.get("region")
    if not isinstance(raw, list) or not raw:
        raise RotaError("the shifts file needs at least one [[region]]")
    regions = tuple(_region(i, r) for i, r in enumerate(raw))
    names = [r.name.lower() for r in regions]
    if len(set(names)) != len(names):
        raise RotaError("region names must be unique")
    return Rota(regions)


def _region(i: int, r: dict[str, Any]) -> Region:
    name = str(r.get("name") or "").strip()
    where = f"region {name or i + 1}"
    if not name:
        raise RotaError(f"{where}: name is required")
    try:
        tz = ZoneInfo(str(r.get("timezone", "")))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RotaError(f"{where}: timezone must be an IANA name such as Europe/Amsterdam") from exc
    start, end = parse_hours(str(r.get("hours", "")), where)
    days = parse_days(str(r.get("days", "Mon-Fri")), where)
    holidays = frozenset(_dates(r.get("holidays", []), f"{where}: holidays"))
    queue = str(r["queue"]).strip() if r.get("queue") else None
    roster = tuple(_entry(e, tz, days, f"{where}: roster") for e in r.get("roster", []))
    if bool(roster) == bool(queue):
        raise RotaError(f"{where}: give either a roster of engineers or a CRM queue")
    return Region(name, tz, start, end, days, holidays, roster, queue)


def _entry(e: dict[str, Any], tz: ZoneInfo, region_days: frozenset[int], where: str) -> RosterEntry:
    email = str(e.get("email", "")).strip().lower()
    if "@" not in email:
        raise RotaError(f"{where}: every engineer needs an email")
    days = parse_days(str(e["days"]), where) if e.get("days") else region_days
    person = Person(email, str(e.get("name", "")), str(e.get("timezone") or tz.key))
    return RosterEntry(person, days, frozenset(_dates(e.get("away", []), f"{where}: away")))


def parse_hours(text: str, where: str = "hours") -> tuple[time, time]:
    m = HOURS.match(text)
    if not m:
        raise RotaError(f"{where}: hours must look like 08:00-17:00")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise RotaError(f"{where}: {text!r} is not a time range")
    start, end = time(h1, m1), time(0, 0) if h2 == 24 else time(h2, m2)
    if start == end:
        raise RotaError(f"{where}: a shift cannot start and end at the same time")
    return start, end


def parse_days(text: str, where: str = "days") -> frozenset[int]:
    """``"Mon-Fri"``, ``"Mon,Wed,Fri"``, ``"Sun-Thu"``, ``"Fri-Mon"`` (ranges wrap around the week)."""
    days: set[int] = set()
    for part in (p.strip().lower() for p in text.replace("\u2013", "-").split(",")):
        first, _, last = (s.strip()[:3] for s in part.partition("-"))
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise RotaError(f"{where}: days must look like Mon-Fri or Mon,Wed,Fri")
        a = DAY_NAMES.index(first)
        b = DAY_NAMES.index(last) if last else a
        days.update((a + k) % 7 for k in range((b - a) % 7 + 1))
    return frozenset(days)


def _dates(values: Any, where: str) -> list[date]:
    out: list[date] = []
    for v in values if isinstance(values, list) else [values]:
        if isinstance(v, datetime):
            out.append(v.date())
        elif isinstance(v, date):
            out.append(v)
        else:
            try:
                out.append(date.fromisoformat(str(v)))
            except ValueError as exc:
                raise RotaError(f"{where}: {v!r} is not a date (YYYY-MM-DD)") from exc
    return out
