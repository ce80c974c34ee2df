"""A deployment's usage in a notebook: requests per UTC day as bars (the failed part in red),
p50/p99 latency as lines below them, the totals per key, a days selector and a refresh button.

The charts are inline SVG in an ``ipywidgets.HTML``: no plotting library, cheap to redraw,
and styled with JupyterLab's colours so they follow its theme. Every text in them is escaped.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import pandas as pd

from ..schemas import UsageDay, UsageReport
from .base import STYLE, Panel, html_table

DAY_CHOICES = (7, 14, 30, 90, 366)
WIDTH, LEFT, RIGHT, TOP = 640, 48, 8, 10
BARS_HEIGHT, LINES_HEIGHT, AXIS_HEIGHT = 140, 70, 16
COLORS = {
    "requests": "var(--jp-brand-color1, #1976d2)",
    "errors": "var(--jp-error-color1, #d32f2f)",
    "p50": "var(--jp-brand-color1, #1976d2)",
    "p99": "var(--jp-warn-color1, #f57c00)",
    "text": "var(--jp-ui-font-color1, #000)",
    "axis": "var(--jp-border-color1, #bdbdbd)",
}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _text(x: float, y: float, text: str, *, anchor: str = "start", color: str = "text") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" '
            f'style="fill:{COLORS[color]}">{html.escape(text)}</text>')


def _svg(height: int, label: str, parts: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{html.escape(label)}" '
            'style="font:10px var(--jp-ui-font-family, sans-serif)">' + "".join(parts) + "</svg>")


def _slot(days: list[UsageDay]) -> float:
    """The width of one day on the x axis."""
    return (WIDTH - LEFT - RIGHT) / max(len(days), 1)


def _axis(days: list[UsageDay], base: float, top_label: str) -> list[str]:
    """The x axis at ``base`` with the first and last day under it, and the y axis's top."""
    parts = [f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" '
             f'style="stroke:{COLORS["axis"]}"/>',
             _text(LEFT - 4, TOP + 8, top_label, anchor="end"),
             _text(LEFT - 4, base, "0", anchor="end")]
    if days:
        parts.append(_text(LEFT, base + 12, str(days[0].day)))
        if len(days) > 1:
            parts.append(_text(WIDTH - RIGHT, base + 12, str(days[-1].day), anchor="end"))
    return parts


def requests_svg(report: UsageReport) -> str:
    """One bar per day, its height proportional to the day's requests, the failed part red at
    its foot; each bar's tooltip has the day's figures."""
    days, slot = report.days, _slot(report.days)
    top = max((day.figures.requests for day in days), default=0)
    base = TOP + BARS_HEIGHT
    parts = _axis(days, base, str(top))
    for n, day in enumerate(days):
        f = day.figures
        x, width = LEFT + n * slot + slot * 0.1, slot * 0.8
        height = BARS_HEIGHT * f.requests / top if top else 0.0
        failed = BARS_HEIGHT * f.errors / top if top else 0.0
        tip = (f"{day.day}: {f.requests} requests, {f.errors} errors, {f.tokens} tokens, "
               f"p50 {_ms(f.p50_ms)}, p99 {_ms(f.p99_ms)}")
        parts.append(
            f'<g><title>{html.escape(tip)}</title>'
            f'<rect class="requests" data-day="{day.day}" x="{x:.2f}" y="{base - height:.4f}" '
            f'width="{width:.2f}" height="{height:.4f}" style="fill:{COLORS["requests"]}"/>'
            f'<rect class="errors" data-day="{day.day}" x="{x:.2f}" y="{base - failed:.4f}" '
            f'width="{width:.2f}" height="{failed:.4f}" style="fill:{COLORS["errors"]}"/></g>')
    if not top:
        parts.append(_text(WIDTH / 2, TOP + BARS_HEIGHT / 2, "no requests in these days",
                           anchor="middle"))
    return _svg(base + AXIS_HEIGHT, f"requests per day, {report.since} to {report.until}", parts)


def latency_svg(report: UsageReport) -> str:
    """p50 and p99 latency per day as two lines, broken on days where no task finished."""
    days, slot = report.days, _slot(report.days)
    values = [v for day in days for v in (day.figures.p50_ms, day.figures.p99_ms) if v is not None]
    top = max(values, default=0.0)
    base = TOP + LINES_HEIGHT
    parts = _axis(days, base, _ms(top) if values else "")
    for name in ("p50", "p99"):
        segments: list[list[str]] = [[]]
        for n, day in enumerate(days):
            value = getattr(day.figures, f"{name}_ms")
            if value is None:
                segments.append([])
                continue
            x = LEFT + (n + 0.5) * slot
            y = base - (LINES_HEIGHT * value / top if top else 0.0)
            segments[-1].append(f"{x:.2f},{y:.2f}")
            parts.append(f'<circle class="{name}" cx="{x:.2f}" cy="{y:.2f}" r="2" '
                         f'style="fill:{COLORS[name]}"/>')
        parts += [f'<polyline class="{name}" points="{" ".join(points)}" '
                  f'style="fill:none;stroke:{COLORS[name]};stroke-width:1.5"/>'
                  for points in segments if len(points) > 1]
    middle = LEFT + (WIDTH - LEFT - RIGHT) / 2  # the legend, between the first and last day
    parts.append(_text(middle - 6, base + 12, "p50", anchor="end", color="p50"))
    parts.append(_text(middle + 6, base + 12, "p99", color="p99"))
    if not values:
        parts.append(_text(WIDTH / 2, TOP + LINES_HEIGHT / 2, "no finished tasks in these days",
                           anchor="middle"))
    return _svg(base + AXIS_HEIGHT, f"p50 and p99 latency per day, {report.since} to {report.until}",
                parts)


def keys_frame(report: UsageReport) -> pd.DataFrame:
    """The per-key totals over the range, one row per key (and one for tasks without a key)."""
    rows = [{"key": f"slot {k.api_key_slot} ({k.api_key_prefix}...)" if k.api_key_id else "no key",
             "requests": k.figures.requests, "tokens": k.figures.tokens, "errors": k.figures.errors,
             "p50 ms": k.figures.p50_ms, "p99 ms": k.figures.p99_ms} for k in report.keys]
    columns = ["key", "requests", "tokens", "errors", "p50 ms", "p99 ms"]
    return pd.DataFrame(rows, columns=columns).astype({"p50 ms": float, "p99 ms": float})


class UsageChart(Panel):
    """Requests, errors, latency and per-key totals of one deployment (id or name) over the
    last ``days`` UTC days; ``refresh()`` (or the button) reads them again."""

    def __init__(self, automl: Any | None, deployment: str, *, days: int = 14) -> None:
        super().__init__(automl)
        self.deployment = deployment
        self.report: UsageReport | None = None
        choices = sorted({*DAY_CHOICES, days})
        self.days = w.Dropdown(options=[(f"{d} days", d) for d in choices], value=days,
                               description="Days", style=STYLE)
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.summary = w.HTML()
        self.chart = w.HTML()
        self.key_table = w.HTML()
        self.days.observe(lambda _: self.refresh(), "value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.children = [self.summary, w.HBox([self.days, self.refresh_button]), self.chart,
                         self.key_table, self.message]
        self.refresh()

    def refresh(self) -> None:
        """Read the usage again (one indexed query) and redraw; an error shows as a message."""
        self.attempt(self._load)

    def _load(self) -> None:
        report = self.automl.usage(self.deployment, self.days.value)
        self.report = report
        t = report.total
        self.summary.value = (
            f"<b>Usage of {html.escape(report.deployment_name)}</b>, {report.since} to "
            f"{report.until} (UTC): {t.requests} requests, {t.tokens} tokens, {t.errors} errors, "
            f"p50 {_ms(t.p50_ms)}, p99 {_ms(t.p99_ms)}")
        self.chart.value = (
            "<div><small>Requests per day (failed in red)</small></div>" + requests_svg(report)
            + "<div><small>Latency per day, arrival to answer</small></div>" + latency_svg(report))
        self.key_table.value = ("<b>Per key</b>" + html_table(keys_frame(report), digits=1, index=False)
                           if report.keys else "<small>no requests in these days</small>")
        self.show_info("")
