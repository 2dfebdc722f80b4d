"""Headless Chromium (Debian's package, which `make test` installs) for the tests that read a page as people see it:
the DOM after the page's scripts ran, and a screenshot."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    assert found, "Chromium is not installed: `make test` installs Debian's chromium (make browser)"
    return found


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="stageflow-chromium-") as profile:
        return subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def rendered_dom(page: Path) -> str:
    """The page's DOM once its scripts ran, as Chromium serialises it."""
    done = _run("--virtual-time-budget=5000", "--dump-dom", page.resolve().as_uri())
    assert done.returncode == 0 and "<html" in done.stdout, done.stderr[-2000:]
    return done.stdout


def screenshot(page: Path, png: Path, width: int = 1200, height: int = 1400) -> Path:
    png.parent.mkdir(parents=True, exist_ok=True)
    done = _run(
        f"--screenshot={png.resolve()}",
        f"--window-size={width},{height}",
        "--virtual-time-budget=5000",
        page.resolve().as_uri(),
    )
    assert done.returncode == 0 and png.exists() and png.stat().st_size > 10_000, done.stderr[-2000:]
    return png
