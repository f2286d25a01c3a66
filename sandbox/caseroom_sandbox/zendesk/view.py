"""How records look on the wire, property for property as the Zendesk API reference lists them.

``base`` is the origin the client reached (``http://127.0.0.1:PORT``), so every ``url``, ``content_url`` and
next-page link leads back to this emulator, as Zendesk's lead back to ``https://{subdomain}.zendesk.com``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from caseroom_sandbox.zendesk.state import (
    Account,
    Attachment,
    Comment,
    Group,
    Ticket,
    TicketField,
    Trigger,
    Upload,
    User,
    Webhook,
)
from caseroom_sandbox.zendesk.wire import iso

VIA = {"api": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
       "web": {"channel": "web", "source": {"from": {}, "to": {}, "rel": None}}}  # fmt: skip


def user_json(user: User, base: str) -> dict[str, Any]:
    agent = user.role != "end-user"
    return {
        "id": user.id, "url": f"{base}/api/v2/users/{user.id}.json", "name": user.name, "email": user.email,
        "created_at": iso(user.created_at), "updated_at": iso(user.updated_at), "time_zone": user.time_zone,
        "iana_time_zone": user.iana_time_zone, "phone": None, "shared_phone_number": None, "photo": None,
        "locale_id": 1, "locale": "en-US", "organization_id": None, "role": user.role, "verified": True,
        "external_id": None, "tags": [], "alias": None, "active": True, "shared": False, "shared_agent": False,
        "last_login_at": None, "two_factor_auth_enabled": None, "signature": None, "details": None, "notes": None,
        "role_type": None, "custom_role_id": None, "moderator": agent,
        "ticket_restriction": None if agent else "requested",
        "only_private_comments": False, "restricted_agent": False, "suspended": False, "default_group_id": None,
        "report_csv": user.role == "admin", "user_fields": {},
    }  # fmt: skip


def group_json(group: Group, base: str) -> dict[str, Any]:
    return {"id": group.id, "url": f"{base}/api/v2/groups/{group.id}.json", "name": group.name, "description": "",
            "default": False, "deleted": False, "is_public": True, "created_at": iso(group.created_at),
            "updated_at": iso(group.updated_at)}  # fmt: skip


def attachment_json(a: Attachment, base: str) -> dict[str, Any]:
    content_url = f"{base}/attachments/token/{a.content_token}/?name={quote(a.file_name)}"
    return {"url": f"{base}/api/v2/attachments/{a.id}.json", "id": a.id, "file_name": a.file_name,
            "content_url": content_url, "mapped_content_url": content_url, "content_type": a.content_type,
            "size": len(a.data), "width": None, "height": None, "inline": False, "deleted": False,
            "malware_access_override": False, "malware_scan_result": "malware_not_found", "thumbnails": []}  # fmt: skip


def upload_json(account: Account, upload: Upload, base: str) -> dict[str, Any]:
    attachments = [attachment_json(account.attachments[aid], base) for aid in upload.attachment_ids]
    return {"token": upload.token, "expires_at": iso(upload.expires_at), "attachments": attachments,
            "attachment": attachments[-1]}  # fmt: skip


def comment_json(account: Account, c: Comment, base: str) -> dict[str, Any]:
    return {"id": c.id, "type": "Comment", "author_id": c.author_id, "body": c.body, "html_body": c.html_body,
            "plain_body": c.plain_body, "public": c.public,
            "attachments": [attachment_json(account.attachments[aid], base) for aid in c.attachment_ids],
            "audit_id": c.audit_id, "via": VIA.get(c.channel, VIA["api"]), "created_at": iso(c.created_at),
            "metadata": {"system": {}, "custom": {}}}  # fmt: skip


def ticket_json(account: Account, t: Ticket, base: str) -> dict[str, Any]:
    custom = [{"id": fid, "value": value} for fid, value in sorted(t.custom.items())]
    return {
        "url": f"{base}/api/v2/tickets/{t.id}.json", "id": t.id, "external_id": t.extra.get("external_id"),
        "via": VIA.get(t.channel, VIA["api"]), "created_at": iso(t.created_at), "updated_at": iso(t.updated_at),
        "generated_timestamp": t.generated_timestamp, "type": t.extra.get("type"), "subject": t.subject,
        "raw_subject": t.subject, "description": t.comments[0].body if t.comments else "", "priority": t.priority,
        "status": t.status, "recipient": None, "requester_id": t.requester_id, "submitter_id": t.submitter_id,
        "assignee_id": t.assignee_id, "organization_id": None, "group_id": t.group_id, "collaborator_ids": [],
        "follower_ids": [], "email_cc_ids": [], "forum_topic_id": None, "problem_id": None, "has_incidents": False,
        "is_public": any(c.public for c in t.comments), "due_at": t.extra.get("due_at"), "tags": list(t.tags),
        "custom_fields": custom, "fields": custom, "satisfaction_rating": None, "sharing_agreement_ids": [],
        "custom_status_id": None, "followup_ids": [], "ticket_form_id": None, "brand_id": None,
        "allow_channelback": False, "allow_attachments": True, "from_messaging_channel": False,
    }  # fmt: skip


def field_json(f: TicketField, base: str) -> dict[str, Any]:
    p = f.props
    title_in_portal = p.get("title_in_portal", f.title)
    out: dict[str, Any] = {
        "url": f"{base}/api/v2/ticket_fields/{f.id}.json", "id": f.id, "type": f.type, "title": f.title,
        "raw_title": f.title, "description": p.get("description", ""), "raw_description": p.get("description", ""),
        "agent_description": p.get("agent_description"), "position": f.position, "active": p.get("active", True),
        "required": p.get("required", False), "collapsed_for_agents": p.get("collapsed_for_agents", False),
        "regexp_for_validation": p.get("regexp_for_validation"), "title_in_portal": title_in_portal,
        "raw_title_in_portal": title_in_portal, "visible_in_portal": p.get("visible_in_portal", f.system),
        "editable_in_portal": p.get("editable_in_portal", f.system),
        "required_in_portal": p.get("required_in_portal", False), "tag": p.get("tag"),
        "created_at": iso(f.created_at), "updated_at": iso(f.updated_at), "removable": not f.system,
        "key": p.get("key"), "creator_user_id": None, "creator_app_name": None,
    }  # fmt: skip
    if f.type in ("tagger", "multiselect"):
        out["custom_field_options"] = p.get("custom_field_options", [])
    return out


def webhook_json(w: Webhook) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": w.id, "name": w.name, "status": w.status, "subscriptions": list(w.subscriptions),
        "created_at": iso(w.created_at), "created_by": w.created_by, "updated_at": iso(w.updated_at),
        "updated_by": w.updated_by, "endpoint": w.endpoint, "http_method": w.http_method,
        "request_format": w.request_format,
    }  # fmt: skip
    if w.description is not None:
        out["description"] = w.description
    if w.custom_headers:
        out["custom_headers"] = dict(w.custom_headers)
    if w.authentication is not None:
        # Credentials never come back: basic auth shows only its username, tokens and keys not at all.
        data = w.authentication.get("data") or {}
        shown = {"username": data["username"]} if "username" in data else {}
        auth = w.authentication
        out["authentication"] = {"type": auth.get("type"), "add_position": auth.get("add_position"), "data": shown}
    return out


def trigger_json(t: Trigger, base: str) -> dict[str, Any]:
    return {"url": f"{base}/api/v2/triggers/{t.id}.json", "id": t.id, "title": t.title, "raw_title": t.title,
            "active": t.active, "position": t.position, "default": False, "conditions": t.conditions,
            "actions": t.actions, "description": t.description, "category_id": t.category_id,
            "created_at": iso(t.created_at), "updated_at": iso(t.updated_at)}  # fmt: skip
