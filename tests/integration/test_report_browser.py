"""The HTML report renders in a real headless browser (Debian's chromium): a screenshot shows the timeline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

pytestmark = pytest.mark.integration
Run = Callable[..., Result]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: scripts/test.sh installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def test_report_renders_in_headless_chromium(run: Run, tmp_path: Path, rfc7517_rsa: dict[str, Any]) -> None:
    from PIL import Image

    browser = chromium()
    (tmp_path / "k.json").write_text(json.dumps({k: v for k, v in rfc7517_rsa.items() if k != "kid"}))
    assert run("import", "acme", str(tmp_path / "k.json")).exit_code == 0
    assert run("generate", "acme", "--size", "2048").exit_code == 0  # a next key
    assert run("generate", "beta", "--size", "2048", "--env", "prod", "--expires-in", "30d").exit_code == 0
    report = tmp_path / "report.html"
    assert run("report", "--out", str(report)).exit_code == 0
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1100,700",
            f"--screenshot={shot}",
            report.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    image = Image.open(shot).convert("RGB")
    assert image.size == (1100, 700)
    colours = {colour for _count, colour in image.getcolors(maxcolors=1 << 20) or []}
    for name, colour in {"active bar": "#16a34a", "next bar": "#3b82f6", "today line": "#dc2626"}.items():
        assert hex_rgb(colour) in colours, f"the screenshot shows no {name}"
    # the timeline area is drawn: many pixels of the active colour, not just the legend chip
    active = sum(count for count, colour in image.getcolors(maxcolors=1 << 20) or [] if colour == hex_rgb("#16a34a"))
    assert active > 5000
