"""CRM users read as people are read once per few minutes, misses included, whichever CRM asks."""

from __future__ import annotations

from integrations.crm import Person
from integrations.people_cache import PeopleCache


def test_a_person_is_read_once_per_ttl_and_a_missing_one_is_remembered_too() -> None:
    now = [0.0]
    reads: list[str] = []

    def read(key: str) -> Person | None:
        reads.append(key)
        return Person("ada@support.example", "Ada", "Asia/Tokyo") if key == "ada" else None

    cache: PeopleCache[str] = PeopleCache(ttl=300, clock=lambda: now[0])
    assert cache.get("ada", read) == Person("ada@support.example", "Ada", "Asia/Tokyo")
    assert cache.get("nobody", read) is None
    now[0] = 299.0
    cache.get("ada", read), cache.get("nobody", read)
    assert reads == ["ada", "nobody"]
    now[0] = 300.0  # stale: an owner's new time zone shows within the TTL
    cache.get("ada", read)
    assert reads == ["ada", "nobody", "ada"]
