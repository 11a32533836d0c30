"""Charts drawn on the server as inline SVG: exact (the points are the figures), no script, no
outside request. Each chart is an ``<svg role="group">`` named by its title; each day is a point a
keyboard reaches (``tabindex="0"``) with its date and value as its accessible name (``aria-label``
and ``<title>``) and a tooltip that CSS shows on hover and on focus. The page also gives the same
numbers as a table for screen readers and for copying."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from babel.numbers import format_compact_currency
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from bnpl.core.money import to_decimal

WIDTH = 1000
HEIGHT = 320
PAD_LEFT = 72
PAD_RIGHT = 16
PAD_TOP = 44  # room for a tooltip above the highest point
PAD_BOTTOM = 36
GRID_LINES = 4
DATE_TICKS = 6  # labelled days along the bottom (every day when there are this many or fewer)
TIP_HEIGHT = 28
TIP_CHAR = 8.0  # px per character of the tooltip's 14 px text (a generous average)


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


def compact_money(currency: str) -> Callable[[int], str]:
    """Axis labels for minor units: "$2.5K", "$120"."""

    def label(amount: int) -> str:
        return format_compact_currency(to_decimal(amount, currency), currency, locale="en_US", fraction_digits=1)

    return label


def _x(index: int, count: int) -> float:
    plot = WIDTH - PAD_LEFT - PAD_RIGHT
    return PAD_LEFT + (plot * (index + 0.5) / count if count else 0)


def _date_ticks(count: int) -> list[int]:
    if count <= DATE_TICKS + 1:
        return list(range(count))
    step = (count - 1) / DATE_TICKS
    return sorted({round(step * tick) for tick in range(DATE_TICKS + 1)})


def _open(name: str, title: str, scale: Scale, axis_label: Callable[[int], str], days: Sequence[dt.date]) -> list[str]:
    title_id = f"{name}-chart-title"
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="group" aria-labelledby="{title_id}" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{title_id}">{escape(title)}</title>',
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
            f'<text class="axis" x="{PAD_LEFT - 8}" y="{y + 5:.1f}" text-anchor="end" aria-hidden="true">'
            f"{escape(axis_label(value))}</text>"
        )
    weekday = len(days) <= DATE_TICKS + 1
    for index in _date_ticks(len(days)):
        day = days[index]
        text = f"{day:%a} {day.day}" if weekday else f"{day.day} {day:%b}"
        parts.append(
            f'<text class="axis" x="{_x(index, len(days)):.1f}" y="{HEIGHT - 10}" text-anchor="middle" '
            f'aria-hidden="true">{escape(text)}</text>'
        )
    return parts


def _point(index: int, count: int, day: dt.date, text: str, mark: str, anchor_y: float) -> str:
    """One day: a focusable group named by its date and value, the mark, a hit area the height of
    the plot (hovering anywhere above the day shows it) and the tooltip CSS reveals."""
    name = f"{day.day} {day:%b %Y}: {text}"
    x = _x(index, count)
    slot = (WIDTH - PAD_LEFT - PAD_RIGHT) / max(count, 1)
    tip_width = 16 + TIP_CHAR * len(name)
    tip_x = min(max(x - tip_width / 2, PAD_LEFT), WIDTH - PAD_RIGHT - tip_width)
    tip_y = max(anchor_y - TIP_HEIGHT - 10, 2)
    return (
        f'<g class="point" tabindex="0" role="img" aria-label="{escape(name)}">'
        f"<title>{escape(name)}</title>"
        f'<rect class="hit" x="{x - slot / 2:.1f}" y="{PAD_TOP}" width="{slot:.1f}" '
        f'height="{HEIGHT - PAD_TOP - PAD_BOTTOM}"/>'
        f"{mark}"
        f'<g class="tip" aria-hidden="true"><rect x="{tip_x:.1f}" y="{tip_y:.1f}" width="{tip_width:.1f}" '
        f'height="{TIP_HEIGHT}" rx="6"/><text x="{tip_x + tip_width / 2:.1f}" y="{tip_y + 19:.1f}" '
        f'text-anchor="middle">{escape(name)}</text></g>'
        "</g>"
    )


def line_chart(
    *,
    name: str,
    title: str,
    days: Sequence[dt.date],
    values: Sequence[int],
    label: Callable[[int], str],
    axis_label: Callable[[int], str] | None = None,
) -> SafeString:
    """One point per day joined by a line; each day's dot carries its exact value."""
    scale = Scale(top=_nice_top(max(values, default=0)))
    parts = _open(name, title, scale, axis_label or label, days)
    points = " ".join(f"{_x(i, len(values)):.1f},{scale.y(v):.1f}" for i, v in enumerate(values))
    parts.append(f'<polyline class="series" fill="none" points="{points}" aria-hidden="true"/>')
    for index, value in enumerate(values):
        x, y = _x(index, len(values)), scale.y(value)
        mark = f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3.5"/>'
        parts.append(_point(index, len(values), days[index], label(value), mark, y))
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  # nosec B308 B703  # numbers, dates and escaped text


def bar_chart(
    *,
    name: str,
    title: str,
    days: Sequence[dt.date],
    values: Sequence[int],
    label: Callable[[int], str],
    axis_label: Callable[[int], str] | None = None,
) -> SafeString:
    """One bar per day; each carries its exact value."""
    scale = Scale(top=_nice_top(max(values, default=0)))
    parts = _open(name, title, scale, axis_label or label, days)
    slot = (WIDTH - PAD_LEFT - PAD_RIGHT) / max(len(values), 1)
    bar = max(slot * 0.7, 1.0)
    for index, value in enumerate(values):
        y = scale.y(value)
        mark = (
            f'<rect class="bar" x="{_x(index, len(values)) - bar / 2:.1f}" y="{y:.1f}" width="{bar:.1f}" '
            f'height="{scale.y(0) - y:.1f}"/>'
        )
        parts.append(_point(index, len(values), days[index], label(value), mark, y))
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  # nosec B308 B703  # numbers, dates and escaped text
