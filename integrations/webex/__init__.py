"""Webex: one space per case, through ``webexpythonsdk`` (the successor of ``webexteamssdk``).

Why not ``webexteamssdk``: its last release (1.7) pins PyJWT 1.7.1, which has a CVE and conflicts with
simple-salesforce's JWT login, and it silently drops ``isLocked``/``isAnnouncementOnly`` from room
creation, which closure needs. ``webexpythonsdk`` is the same code by the same maintainers, renamed.
"""
