"""Two forms of every reliability test: a fast one in each run, and a soak one on demand.

The soak form (the issue's full sizes: 1,000 cases) carries the ``soak`` marker and is deselected unless
``CASEROOM_RELIABILITY=long`` (see ``tests/conftest.py``). Each form has its own settle deadline and a pytest
timeout above it, so a slow run fails on the test's own assertion, saying what was still pending.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Form:
    cases: int
    deadline: float  # seconds the test may wait for the work to settle
    kills: int  # how many worker processes the kill test may SIGKILL (each restart re-imports the service)


FAST = Form(cases=30, deadline=150, kills=6)
SOAK = Form(cases=1000, deadline=1800, kills=200)


@pytest.fixture(
    params=[
        pytest.param(FAST, id="fast", marks=pytest.mark.timeout(FAST.deadline + 60)),
        pytest.param(SOAK, id="soak", marks=[pytest.mark.soak, pytest.mark.timeout(SOAK.deadline + 120)]),
    ]
)
def form(request: pytest.FixtureRequest) -> Form:
    return request.param
