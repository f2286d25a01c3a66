"""Zendesk Support as a CRM: tickets in through signed webhooks and a cursor sweep, everything back through zenpy.

A ticket is a case: its requester is the customer, its assignee the engineer (a group with no assignee means
nobody has picked it up yet), an assignee change is a rotation, and solved or closed closes the room.
"""
