"""Slack: a channel per case through ``slack_sdk`` (work, in jobs) and ``slack_bolt`` (``POST /slack/events``)."""
