"""The usage chart on hand-made reports: one bar per day as tall as its requests, the failed
part and the latency lines, the per-key table, escaped text, the days selector and refresh."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from jupyter_automl.errors import NotFound
from jupyter_automl.schemas import KeyUsage, UsageDay, UsageFigures, UsageReport
from jupyter_automl.widgets import UsageChart
from jupyter_automl.widgets.usage import BARS_HEIGHT

SVG = "{http://www.w3.org/2000/svg}"
TODAY = date(2024, 5, 10)


def _figures(requests: int, errors: int = 0, p50: float | None = None,
             p99: float | None = None) -> UsageFigures:
    return UsageFigures(requests=requests, prompt_tokens=requests, completion_tokens=0,
                        tokens=requests, errors=errors, p50_ms=p50, p99_ms=p99)


class FakeAutoML:
    """Answers ``usage`` with a report of ``per_day`` (requests, errors) cycled over the days."""

    def __init__(self, per_day: list[tuple[int, int]], name: str = "reviews") -> None:
        self.per_day, self.name, self.calls = per_day, name, []

    def usage(self, deployment: str, days: int = 14) -> UsageReport:
        self.calls.append((deployment, days))
        if deployment != self.name:
            raise NotFound(f"no deployment named or with id {deployment!r}")
        since = TODAY - timedelta(days=days - 1)
        entries = []
        for n in range(days):
            requests, errors = self.per_day[n % len(self.per_day)]
            latency = (10.0 * requests, 20.0 * requests) if requests else (None, None)
            entries.append(UsageDay(day=since + timedelta(days=n),
                                    figures=_figures(requests, errors, *latency), keys=[]))
        total = sum(e.figures.requests for e in entries)
        keys = [KeyUsage(api_key_id="a" * 32, api_key_slot=1, api_key_prefix="jam_<b>",
                         figures=_figures(total - 1, 0, 12.5, 40.0)),
                KeyUsage(api_key_id=None, api_key_slot=None, api_key_prefix=None,
                         figures=_figures(1))] if total else []
        return UsageReport(deployment_id="d" * 32, deployment_name=self.name, since=since,
                           until=TODAY, total=_figures(total), days=entries, keys=keys)


def _svgs(chart: UsageChart) -> list[ET.Element]:
    return [ET.fromstring(s) for s in re.findall(r"<svg.*?</svg>", chart.chart.value, re.S)]


def _heights(svg: ET.Element, kind: str) -> list[float]:
    return [float(r.get("height")) for r in svg.iter(f"{SVG}rect") if r.get("class") == kind]


def test_one_bar_per_day_as_tall_as_its_requests():
    per_day = [(4, 1), (0, 0), (10, 0), (7, 7), (2, 0)]
    automl = FakeAutoML(per_day, name="<script>alert(1)</script>")
    chart = UsageChart(automl, automl.name, days=5)
    assert automl.calls == [(automl.name, 5)] and chart.error is None
    bars, lines = _svgs(chart)
    requests, errors = _heights(bars, "requests"), _heights(bars, "errors")
    assert len(requests) == len(errors) == 5
    assert requests == pytest.approx([BARS_HEIGHT * r / 10 for r, _ in per_day])
    assert errors == pytest.approx([BARS_HEIGHT * e / 10 for _, e in per_day])
    days = [r.get("data-day") for r in bars.iter(f"{SVG}rect") if r.get("class") == "requests"]
    assert days == [str(TODAY - timedelta(days=n)) for n in (4, 3, 2, 1, 0)]
    tips = [t.text for t in bars.iter(f"{SVG}title")]
    assert tips[3] == (f"{TODAY - timedelta(days=1)}: 7 requests, 7 errors, 7 tokens, "
                       "p50 70.0 ms, p99 140.0 ms")

    # The day without requests breaks both latency lines: a lone dot, then a line of three.
    pieces = {name: [len(p.get("points").split()) for p in lines.iter(f"{SVG}polyline")
                     if p.get("class") == name] for name in ("p50", "p99")}
    assert pieces == {"p50": [3], "p99": [3]}
    assert sum(c.get("class") == "p99" for c in lines.iter(f"{SVG}circle")) == 4

    assert "<script>" not in chart.summary.value + chart.chart.value + chart.key_table.value
    assert "&lt;script&gt;" in chart.summary.value and "23 requests" in chart.summary.value
    assert "jam_&lt;b&gt;" in chart.key_table.value and "no key" in chart.key_table.value
    assert "<td>12.5</td>" in chart.key_table.value and "<td>40.0</td>" in chart.key_table.value


def test_days_selector_refresh_and_errors():
    automl = FakeAutoML([(3, 0)])
    chart = UsageChart(automl, "reviews")
    assert chart.days.value == 14 and len(_heights(_svgs(chart)[0], "requests")) == 14
    chart.days.value = 30
    assert automl.calls[-1] == ("reviews", 30) and len(_heights(_svgs(chart)[0], "requests")) == 30
    assert _heights(_svgs(chart)[0], "requests") == pytest.approx([BARS_HEIGHT] * 30)
    automl.per_day = [(0, 0)]
    chart.refresh_button.click()
    assert automl.calls[-1] == ("reviews", 30) and set(_heights(_svgs(chart)[0], "requests")) == {0.0}
    assert "no requests in these days" in chart.chart.value

    missing = UsageChart(automl, "gone", days=7)
    assert missing.report is None and "no deployment named or with id 'gone'" in missing.error
    assert 7 in [value for _, value in missing.days.options]
