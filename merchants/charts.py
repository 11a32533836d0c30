"""Charts drawn on the server as inline SVG: exact (the points are the figures), no script, no
outside request. Each chart is an ``<svg role="img">`` with a title; the page also gives the same
numbers as a table for screen readers and for copying."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 640
HEIGHT = 220
PAD_LEFT = 64
PAD_RIGHT = 12
PAD_TOP = 12
PAD_BOTTOM = 28
GRID_LINES = 4


@dataclass(frozen=True)
class Scale:
    top: int  # the value at the top of the plot: a round number at or above the maximum

    def y(self, value: int) -> float:
        plot = HEIGHT - PAD_TOP - PAD_BOTTOM
        return PAD_TOP + plot - (plot * value / self.top if self.top else 0)


def _nice_top(maximum: int) -> int:
    """The smallest 1, 2, 2.5 or 5 times 10^n at or above ``maximum`` (at least 1)."""
    if maximum <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 <= maximum:
        magnitude *= 10
    for step in (1, 2, 2.5, 5, 10):
        candidate = int(step * magnitude)
        if candidate >= maximum:
            return candidate
    return magnitude * 10


def _x(index: int, count: int) -> float:
    plot = WIDTH - PAD_LEFT - PAD_RIGHT
    return PAD_LEFT + (plot * (index + 0.5) / count if count else 0)


def _frame(title: str, scale: Scale, label: Callable[[int], str], days: Sequence[dt.date]) -> list[str]:
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
    ]
    drawn: set[int] = set()
    for step in range(GRID_LINES + 1):
        value = scale.top * step // GRID_LINES
        if value in drawn:
            continue  # a small integer scale (orders: 0 to 1) has fewer lines than steps
        drawn.add(value)
        y = scale.y(value)
        parts.append(f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="axis" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(label(value))}</text>'
        )
    if days:
        for index in sorted({0, len(days) // 2, len(days) - 1}):
            parts.append(
                f'<text class="axis" x="{_x(index, len(days)):.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
                f"{days[index]:%d %b}</text>"
            )
    return parts


def line_chart(
    *, title: str, days: Sequence[dt.date], values: Sequence[int], label: Callable[[int], str]
) -> SafeString:
    """One point per day joined by a line, with a dot per day carrying its exact value as a tooltip."""
    scale = Scale(top=_nice_top(max(values, default=0)))
    parts = _frame(title, scale, label, days)
    points = " ".join(f"{_x(i, len(values)):.1f},{scale.y(v):.1f}" for i, v in enumerate(values))
    parts.append(f'<polyline class="series" fill="none" points="{points}"/>')
    for index, value in enumerate(values):
        parts.append(
            f'<circle class="dot" cx="{_x(index, len(values)):.1f}" cy="{scale.y(value):.1f}" r="2.5">'
            f"<title>{days[index]:%Y-%m-%d}: {escape(label(value))}</title></circle>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  # nosec B308 B703  # numbers, dates and escaped text


def bar_chart(*, title: str, days: Sequence[dt.date], values: Sequence[int], label: Callable[[int], str]) -> SafeString:
    """One bar per day, its exact value as a tooltip."""
    scale = Scale(top=_nice_top(max(values, default=0)))
    parts = _frame(title, scale, label, days)
    slot = (WIDTH - PAD_LEFT - PAD_RIGHT) / max(len(values), 1)
    bar = max(slot * 0.7, 1.0)
    for index, value in enumerate(values):
        y = scale.y(value)
        parts.append(
            f'<rect class="bar" x="{_x(index, len(values)) - bar / 2:.1f}" y="{y:.1f}" width="{bar:.1f}" '
            f'height="{scale.y(0) - y:.1f}"><title>{days[index]:%Y-%m-%d}: {escape(label(value))}</title></rect>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  # nosec B308 B703  # numbers, dates and escaped text
