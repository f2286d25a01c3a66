"""A server process for the ingest benchmark: ``python -m benchmarks.serve bare|caseroom PORT [DB_URL]``.

``bare`` is the floor: a FastAPI endpoint that reads the body and answers 200, nothing else. ``caseroom``
is the real webhook route (verify the signature, persist the delivery and its job, deduplicate, ack) with no
workers in the process, as a web replica runs when `caseroom worker` processes do the work elsewhere.
Both run under the same uvicorn settings, so the difference is CaseRoom's own cost.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request, Response


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.post("/webhooks/crm")
    async def accept(request: Request) -> Response:
        await request.body()
        return Response('{"status":"accepted"}', media_type="application/json")

    return app


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "bare":
        app = bare_app()
    else:
        from tests.support import runtime

        state = Path(tempfile.mkdtemp()) / "state.json"
        rt, _ = runtime(sys.argv[3], state, CASEROOM_WORKERS=0)
        app = rt.app
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
