"""The sandbox ships apart: the product's distribution neither needs nor carries it, and runs without it."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points, requires
from pathlib import Path

from packaging.requirements import Requirement
from setuptools import find_packages

from tests.support import command_env

ROOT = Path(__file__).resolve().parent.parent
WITHOUT = [sys.executable, str(ROOT / "tests" / "without_sandbox.py")]


def without_sandbox(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    env = command_env(COLUMNS="200", CASEROOM_DATABASE_URL=f"sqlite:///{tmp_path}/c.db", **env)
    return subprocess.run([*WITHOUT, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip


def test_the_product_needs_neither_the_sandbox_nor_its_tls_authority_and_its_wheel_holds_no_emulator() -> None:
    needs = {Requirement(r).name.lower() for r in requires("caseroom") or []}
    assert "fastapi" in needs  # the metadata read is the product's own
    assert not needs & {"trustme", "caseroom-sandbox"}
    found = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = find_packages(str(ROOT), include=found["include"])
    assert "bot.dashboard" in packages and "integrations.webex" in packages
    assert not [p for p in packages if "sandbox" in p], packages
    # What the sandbox gives the product, it gives through entry points of its own distribution.
    given = {(ep.group, ep.name): ep.dist.name for g in ("caseroom.sandbox", "caseroom.cli", "caseroom.dashboard")
             for ep in entry_points(group=g) if ep.dist is not None}  # fmt: skip
    assert given[("caseroom.sandbox", "default")] == "caseroom-sandbox"
    assert given[("caseroom.cli", "demo")] == given[("caseroom.dashboard", "sandbox")] == "caseroom-sandbox"


def test_without_the_sandbox_serve_says_it_is_missing_and_the_cli_offers_none_of_it(tmp_path: Path) -> None:
    served = without_sandbox(tmp_path, "serve", "--port", "0")
    assert served.returncode == 2, served.stdout + served.stderr
    assert "the sandbox is not installed" in served.stderr and "Traceback" not in served.stderr
    helped = without_sandbox(tmp_path, "--help")
    assert helped.returncode == 0 and " serve " in helped.stdout
    assert " demo " not in helped.stdout and " sandbox " not in helped.stdout


def test_without_the_sandbox_the_dashboard_has_no_sandbox_page_even_in_sandbox_mode(tmp_path: Path) -> None:
    shown = without_sandbox(tmp_path, "--dashboard", "an-admin-token-of-the-test", str(tmp_path / "d.db"))
    assert shown.returncode == 0, shown.stderr
    pages = json.loads(shown.stdout)
    assert pages["/admin"]["status"] == 200 and "/admin/jobs" in pages["/admin"]["links"]
    assert "/admin/sandbox" not in pages["/admin"]["links"]
    assert pages["/admin/sandbox"]["status"] == 404
