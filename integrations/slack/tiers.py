"""Slack's published rate tiers for the methods CaseRoom calls, as ``Pacer`` rates (calls, seconds).

Tier 2 = 20+/min, tier 3 = 50+/min, tier 4 = 100+/min per method per workspace (docs.slack.dev, "Rate
limits"); the floors are used, so a workspace never sees a 429 from us when it is alone. ``chat.postMessage``
is limited per channel (about 1/s with bursts), which a per-method pacer cannot express: 429s there are
honoured through Retry-After instead. Override with ``SLACK_RATE_LIMITS``.
"""

from __future__ import annotations

from integrations.pacing import Rate

TIER_2: Rate = (20, 60.0)
TIER_3: Rate = (50, 60.0)
TIER_4: Rate = (100, 60.0)

DEFAULT_RATES: dict[str, Rate] = {
    "conversations.create": TIER_2,
    "conversations.archive": TIER_2,
    "conversations.setTopic": TIER_2,
    "conversations.setPurpose": TIER_2,
    "conversations.inviteShared": TIER_2,
    "conversations.list": TIER_2,
    "bookmarks.add": TIER_2,
    "conversations.invite": TIER_3,
    "conversations.kick": TIER_3,
    "conversations.history": TIER_3,
    "conversations.replies": TIER_3,
    "users.lookupByEmail": TIER_3,
    "conversations.members": TIER_4,
    "users.info": TIER_4,
    "files.info": TIER_4,
}
