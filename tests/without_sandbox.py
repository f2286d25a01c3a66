"""Run CaseRoom as a deployment without the ``caseroom-sandbox`` distribution installed sees it.

``python tests/without_sandbox.py ARGS...`` runs ``caseroom ARGS...``; ``python tests/without_sandbox.py
--dashboard TOKEN`` signs in to a sandbox-mode dashboard and prints each page's status and links as JSON.
Before the product loads, the distribution's entry points are dropped from ``importlib.metadata`` and its package
(and ``trustme``, which only it needs) made unimportable, so any import of them fails as it would there.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import re
import sys
from pathlib import Path
from typing import Any

SANDBOX_DIST = "caseroom-sandbox"
_entry_points = metadata.entry_points


def _without_sandbox(**params: Any) -> Any:
    found = _entry_points(**params)
    return metadata.EntryPoints(ep for ep in found if ep.dist is None or ep.dist.name != SANDBOX_DIST)


metadata.entry_points = _without_sandbox
for hidden in ("caseroom_sandbox", "trustme"):
    sys.modules[hidden] = None  # type: ignore[assignment]  # None in sys.modules makes the import raise


def dashboard(token: str) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from bot.runtime import Runtime
    from tests.support import settings

    db = Path(sys.argv[3]) if len(sys.argv) > 3 else Path("without-sandbox.db")
    rt = Runtime(settings(f"sqlite:///{db}", CASEROOM_ADMIN_TOKEN=token, CASEROOM_SANDBOX=True), plugins=[],
                 messaging={})  # fmt: skip
    try:
        client = TestClient(rt.app)
        client.post("/admin/login", data={"token": token, "next": "/admin"})
        pages = {path: client.get(path) for path in ("/admin", "/admin/sandbox")}
        return {path: {"status": r.status_code, "links": re.findall(r'href="([^"]+)"', r.text)}
                for path, r in pages.items()}  # fmt: skip
    finally:
        rt.stop()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    if sys.argv[1:2] == ["--dashboard"]:
        print(json.dumps(dashboard(sys.argv[2])))
    else:
        from bot.cli import main

        sys.argv[0] = "caseroom"
        main()
