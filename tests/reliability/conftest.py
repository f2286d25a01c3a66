from __future__ import annotations

import os

import pytest

# `make test` runs the fast form; CASEROOM_RELIABILITY=long runs the full sizes (1,000 cases).
LONG = os.environ.get("CASEROOM_RELIABILITY") == "long"


@pytest.fixture
def cases() -> int:
    return 1000 if LONG else 60
