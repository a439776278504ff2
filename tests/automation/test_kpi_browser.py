"""The KPI report in a real browser: Debian's headless chromium renders the Japanese report, and
the band emoji (🔴🟠🟡🟢) come out as colour glyphs, not as missing-glyph boxes.

How the glyphs are checked: the same report is rendered twice, once as written and once with
every band emoji replaced by a character no font has (U+E000, drawn as the missing-glyph box).
The colour emoji of Noto Color Emoji (fonts-noto-color-emoji, installed by ``.ci/run``) are
filled with one flat colour each; those colours appear in the first screenshot and not in the
second. The report's own chart colours are different, so they cancel out.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime

import pandas as pd
import pytest

from sfsync.automation.kpi import band_counts, compute_kpis
from sfsync.automation.kpi_funnel import funnel_report
from sfsync.automation.kpi_report import render_kpi_report
from sfsync.automation.playbook import load_playbook
from sfsync.templates import load_templates
from tests.automation import test_kpi_funnel as funnel_sample
from tests.automation.test_kpi import ACCOUNTS, ACTIVITIES, SIGNALS, SNAPSHOTS, TASKS, USAGE
from tests.png_pixels import read_png

pytestmark = pytest.mark.browser

#: The flat fill of each band emoji in Noto Color Emoji (sampled from a 64 px rendering).
EMOJI_FILL = {
    "🔴": (244, 67, 54),
    "🟠": (255, 152, 0),
    "🟡": (255, 204, 50),
    "🟢": (124, 179, 66),
}
MISSING_GLYPH = "\ue000"


def _chromium() -> str:
    path = shutil.which("chromium")
    if not path:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it with apt-get)")
    return path


def _screenshot(chromium: str, html_path, png_path, profile) -> None:
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--screenshot={png_path}",
            "--window-size=1280,3400",
            html_path.as_uri(),
        ],
        check=True,
        timeout=180,
        capture_output=True,
    )


def _dom(chromium: str, html_path, profile) -> str:
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--dump-dom", html_path.as_uri()],
        check=True, timeout=180, capture_output=True, text=True,
    )  # fmt: skip
    return proc.stdout


def _count(rows, colour, tolerance=4) -> int:
    r0, g0, b0 = colour
    n = 0
    for row in rows:
        for i in range(0, len(row), 3):
            if (
                abs(row[i] - r0) <= tolerance
                and abs(row[i + 1] - g0) <= tolerance
                and abs(row[i + 2] - b0) <= tolerance
            ):
                n += 1
    return n


def _report_html() -> str:
    playbook = load_playbook("mappings/playbook.yaml")
    report = compute_kpis(
        "2025-03",
        playbook=playbook,
        snapshots=SNAPSHOTS,
        accounts=ACCOUNTS,
        usage=USAGE,
        activities=ACTIVITIES,
        tasks=TASKS,
        signals=SIGNALS,
    )
    return render_kpi_report(
        report,
        templates=load_templates("mappings/templates", "ja"),
        playbook=playbook,
        trend=pd.DataFrame(columns=["month", "key", "value", "status"]),
        bands=band_counts(SNAPSHOTS, ["2025-02", "2025-03"]),
        funnel=funnel_report(
            ["2025-02", "2025-03"], accounts=funnel_sample.ACCOUNTS, usage=funnel_sample.USAGE
        ),
        instance_url=funnel_sample.URL,
        generated_at=datetime(2025, 4, 1, 7, tzinfo=UTC),
    )


def test_band_emoji_and_japanese_text_render_in_headless_chromium(tmp_path):
    chromium = _chromium()
    html = _report_html()
    for emoji in EMOJI_FILL:
        assert emoji in html, emoji  # the report shows every band's emoji
    page = tmp_path / "kpi.html"
    page.write_text(html, encoding="utf-8")
    boxed = tmp_path / "kpi-missing-glyphs.html"
    text = html
    for emoji in EMOJI_FILL:
        text = text.replace(emoji, MISSING_GLYPH)
    boxed.write_text(text, encoding="utf-8")

    shot, shot_boxed = tmp_path / "kpi.png", tmp_path / "kpi-missing-glyphs.png"
    _screenshot(chromium, page, shot, tmp_path / "profile")
    _screenshot(chromium, boxed, shot_boxed, tmp_path / "profile")
    _, _, rows = read_png(shot)
    _, _, rows_boxed = read_png(shot_boxed)

    for emoji, fill in EMOJI_FILL.items():
        drawn, boxes = _count(rows, fill), _count(rows_boxed, fill)
        # a 13 px emoji fills ~60 pixels with its flat colour; the box fills none
        assert drawn >= 40, f"{emoji} did not render as a colour glyph ({drawn} pixels)"
        assert boxes * 5 <= drawn, f"{emoji}: {boxes} pixels of its colour without it"

    dom = _dom(chromium, page, tmp_path / "profile")
    for shown in ("月次KPIレポート 2025-03", "🔴顧客比率", "🟢 健全", "週次の先行指標（2025-03）",
                  "検知から48時間以内の接触率", "Step1 キックオフ（ゴール設定）",
                  "テックタッチのファネル（2025-02〜2025-03）", "28 → 7 → 1",
                  "開始したが完了していない顧客（2 社）"):  # fmt: skip
        assert shown in dom, shown
    for forbidden in ("SPEC", "§", "--"):
        assert forbidden not in dom, forbidden
