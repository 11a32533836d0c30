"""JSON stored on a row (a decision's reasons and features, …) read as tables in the admin: a dict
as a two-column table of names and values, a list of dicts with the same keys as a table with one
column per key, a list of plain values as a list; nested values the same way. Every value escaped."""

from __future__ import annotations

from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe


def _label(name: object) -> str:
    text = str(name).replace("_", " ")
    return f"{text[:1].upper()}{text[1:]}"


def _scalar(value: object) -> SafeString:
    if value is None:
        return format_html('<span class="quiet">{}</span>', "unknown")
    if isinstance(value, bool):
        return format_html("{}", "yes" if value else "no")
    if isinstance(value, float):
        return format_html("{}", f"{value:.6g}")
    return format_html("{}", value)


def json_table(value: Any) -> SafeString:
    """``value`` (parsed JSON) as HTML tables; "—" when empty."""
    if isinstance(value, dict | list) and not value:
        return format_html("{}", "—")
    if isinstance(value, dict):
        rows = format_html_join(
            "",
            '<tr><th scope="row">{}</th><td>{}</td></tr>',
            ((_label(key), json_table(item)) for key, item in value.items()),
        )
        return format_html('<table class="json-table">{}</table>', rows)
    if isinstance(value, list):
        if all(isinstance(item, dict) for item in value):
            columns = list(dict.fromkeys(key for item in value for key in item))
            head = format_html_join("", '<th scope="col">{}</th>', ((_label(column),) for column in columns))
            cells = (
                format_html(
                    "<tr>{}</tr>",
                    format_html_join("", "<td>{}</td>", ((json_table(item.get(column)),) for column in columns)),
                )
                for item in value
            )
            body = mark_safe("".join(cells))  # noqa: S308  # nosec B308 B703  # every cell is built by format_html
            return format_html(
                '<table class="json-table"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head, body
            )
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((json_table(item),) for item in value)))
    return _scalar(value)
