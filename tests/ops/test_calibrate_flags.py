"""Calibration warnings: a measure that predicts backwards (AUC well below 0.5) and bands whose
churn rates are out of order, shown in the configured language (ja default, en)."""

from datetime import date

import pandas as pd
import pytest

from sfsync.ops.calibrate import CalibrationReport
from sfsync.ops.calibrate_flags import backwards_measures, band_inversions
from sfsync.ops.calibrate_report import render_html, render_text
from sfsync.ops.calibrate_stats import MeasureSeparation, churn_by_band
from sfsync.templates import load_templates

MEASURES = [
    MeasureSeparation("deliveries", 0.81, 40, 20.0, 5.0, 25, 30),
    MeasureSeparation("renewal", 0.07, 40, 2.0, 9.0, 10, 4),
    MeasureSeparation("login_days", 0.45, 40, 7.0, 8.0, 15, 12),  # noise, not backwards
    MeasureSeparation("nps", None, 0, None, None, 10, 10),
]
# yellow churns 1 of 4, orange 0 of 4 (out of order), red 3 of 4; no green accounts
OBS = pd.DataFrame(
    {
        "health_band": ["yellow"] * 4 + ["orange"] * 4 + ["red"] * 4,
        "churned": [True, False, False, False] + [False] * 4 + [True, True, True, False],
    }
)


def _report() -> CalibrationReport:
    report = CalibrationReport(
        "default", date(2024, 6, 1), date(2025, 3, 1), 12, 4, 36, churn_by_band(OBS), 0.7,
        MEASURES, categories={"deliveries": "usage", "renewal": "contract",
                              "login_days": "usage", "nps": "outcome"},
        labels={"deliveries": "配信数", "renewal": "契約更新", "usage": "利用状況"},
    )  # fmt: skip
    report.backwards = backwards_measures(report.measures)
    report.band_inversions = band_inversions(report.bands)
    return report


def test_backwards_measures_and_band_inversions():
    assert [(b.measure, b.auc) for b in backwards_measures(MEASURES)] == [("renewal", 0.07)]
    assert backwards_measures(MEASURES, threshold=0.5)[1].measure == "login_days"
    inv = band_inversions(churn_by_band(OBS))
    assert [(i.better, i.worse) for i in inv] == [("yellow", "orange")]
    assert (inv[0].better_rate, inv[0].worse_rate) == (0.25, 0.0)
    in_order = OBS.assign(churned=[False] * 4 + [True, False, False, False] + [True] * 4)
    assert band_inversions(churn_by_band(in_order)) == []


def test_japanese_report_flags_by_label():
    ja = load_templates("mappings/templates", "ja")
    report = _report()
    text = render_text(report, ja)
    assert "逆向きに働いている指標" in text
    assert "「契約更新」は AUC 0.07（40 社）" in text
    assert "🟡 要注意 の解約率 25% が 🟠 警戒 の解約率 0% を上回っています" in text
    assert "renewal" not in text and "yellow" not in text  # labels, not codes
    page = render_html(report, ja)
    assert 'lang="ja"' in page and "順序が逆転しているバンド" in page
    assert "「契約更新」は AUC 0.07" in page and "バンド別の解約率" in page


def test_english_report_and_no_flags():
    en = load_templates("mappings/templates", "en")
    report = _report()
    text = render_text(report, en)
    assert "Measures that predict backwards" in text and "“契約更新” has an AUC of 0.07" in text
    assert "Bands out of order" in text
    report.backwards, report.band_inversions = [], []
    assert "No measure predicts backwards" in render_text(report, en)
    assert "逆向きの指標も" in render_html(report, load_templates("mappings/templates", "ja"))


@pytest.mark.parametrize("language", ["ja", "en"])
def test_few_churned_note_in_the_language(language):
    report = _report()
    text = render_text(report, load_templates("mappings/templates", language))
    assert ("解約した顧客が 4 社しかいません" if language == "ja" else "Only 4 churned") in text
