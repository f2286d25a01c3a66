"""``POST /services/oauth2/token``: the password and JWT bearer flows, answering like Salesforce.

The JWT's signature is NOT verified (the sandbox holds no connected app certificate): only its claims are read,
and ``sub`` must name a user of the org. The password flow accepts any non-empty password for a known
username. Failures answer 400 ``{"error": "invalid_grant", "error_description": "authentication failure"}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from caseroom_sandbox.salesforce.wire import json_response

if TYPE_CHECKING:
    from caseroom_sandbox.salesforce import SalesforceEmulator

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _refused(error: str = "invalid_grant", description: str = "authentication failure") -> Response:
    return json_response({"error": error, "error_description": description}, status=400)


def jwt_claims(assertion: str) -> dict[str, Any] | None:
    try:
        payload = assertion.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None


class OAuth:
    def __init__(self, emu: SalesforceEmulator) -> None:
        self.emu = emu

    def routes(self) -> list[Route]:
        return [Route("/services/oauth2/token", self.token, methods=["POST"])]

    async def token(self, request: Request) -> Response:
        form = await request.form()
        grant = str(form.get("grant_type") or "")
        if grant == "password":
            username, password = str(form.get("username") or ""), str(form.get("password") or "")
            user = self._user(username)
            if user is None or not password:
                return _refused()
        elif grant == JWT_GRANT:
            claims = jwt_claims(str(form.get("assertion") or ""))
            user = self._user(str(claims.get("sub") or "")) if claims else None
            if user is None:
                return _refused(description="user hasn't approved this consumer" if claims else "invalid assertion")
        else:
            return _refused("unsupported_grant_type", "grant type not supported")
        instance_url = str(request.base_url).rstrip("/")
        issued_at = str(int(time.time() * 1000))
        identity = f"{instance_url}/id/{self.emu.org_id}/{user['Id']}"
        secret = str(form.get("client_secret") or "sandbox").encode()
        signature = base64.b64encode(hmac.new(secret, (identity + issued_at).encode(), hashlib.sha256).digest())
        return json_response({
            "access_token": self.emu.issue_token(),
            "instance_url": instance_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": signature.decode(),
            "scope": "api",
        })  # fmt: skip

    def _user(self, username: str) -> dict[str, Any] | None:
        lowered = username.lower()
        for user in self.emu.org.all("User"):
            if lowered and lowered in ((user["Username"] or "").lower(), (user["Email"] or "").lower()):
                return user if user["IsActive"] else None
        return None
