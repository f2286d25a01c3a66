"""The generic webhook's way back: signed callbacks to the CRM's own automation.

Cases that arrive on ``POST /webhooks/crm`` belong to the CRM named ``webhook``. With a callback URL and secret
configured (``CASEROOM_CALLBACK_*``), everything CaseRoom writes back to a CRM reaches that URL as a signed JSON event,
at least once, each with an id that stays the same across retries: the room's URL, comments, people invited, joined,
left, removed or refused, files and, at closure, the transcript and the files as short-lived signed links CaseRoom
serves (inline as well when small). ``manifest/webhook/`` documents the wire format.
"""
