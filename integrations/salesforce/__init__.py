"""Salesforce Service Cloud: Outbound Messages in, the case written back, transcripts and files filed.

``client`` logs in and maps errors, ``crm`` is the CRM port, ``outbound`` the SOAP webhook, ``reconcile`` the
sweep that heals dropped messages and ``digest`` the Chatter digest of room activity. Facts we follow:
``../shared/reference/salesforce.md``; the admin side is ``manifest/salesforce/``.
"""
