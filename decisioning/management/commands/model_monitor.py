"""``manage.py model_monitor [--days 30] [--name credit] [--sandbox]``: score stability (PSI) of the
model versions in service, approval rate and approved amounts by day, and adverse impact by age band."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from decisioning.monitoring import DEFAULT_WINDOW_DAYS, MonitoringReport, model_monitoring_report


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns padded to their widest cell: text left-aligned, the first column included."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [headers, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def report_lines(report: MonitoringReport) -> list[str]:
    mode = "live" if report.livemode else "sandbox"
    lines = [
        f"Model monitoring: {report.name}, {mode} decisions, {report.since:%Y-%m-%d %H:%M} to "
        f"{report.until:%Y-%m-%d %H:%M} UTC",
        "",
    ]
    lines.append("Population stability index (live scores against the training deciles)")
    if not report.psi:
        lines.append(f"No champion or challenger named '{report.name}' is in service.")
    else:
        lines += format_table(
            ["model", "version", "live scores", "PSI", "band"],
            [
                [psi.label, psi.model_version_id, str(psi.live_count), _ratio(psi.value), psi.band or "no data"]
                for psi in report.psi
            ],
        )
        for psi in report.psi:
            lines += ["", f"{psi.model_version_id} by decile bin (training rows / live scores)"]
            lines += format_table(
                ["bin", "up to", "training", "live"],
                [
                    [
                        str(index + 1),
                        f"{psi.edges[index]:.4f}" if index < len(psi.edges) else "max",
                        str(expected),
                        str(actual),
                    ]
                    for index, (expected, actual) in enumerate(
                        zip(psi.expected_counts, psi.actual_counts, strict=False)
                    )
                ],
            )
    lines += ["", "Approval rate and approved amounts by UTC day (amounts in minor units)"]
    lines += format_table(
        ["day", "decisions", "approved", "rate", "approved amount total / average"],
        [
            [
                day.day.isoformat(),
                str(day.decisions),
                str(day.approved),
                _percent(day.approval_rate),
                ", ".join(f"{row.currency} {row.total_amount} / {row.average_amount}" for row in day.amounts) or "—",
            ]
            for day in report.days
        ],
    )
    lines += ["", "Adverse impact by age band (age at decision; used only for this report)"]
    lines += format_table(
        ["age band", "decisions", "approved", "rate", "impact ratio", "flag"],
        [
            [
                band.band,
                str(band.decisions),
                str(band.approved),
                _percent(band.approval_rate),
                _ratio(band.adverse_impact_ratio),
                "below 0.8" if band.is_flagged else "",
            ]
            for band in report.age_bands
        ],
    )
    return lines


class Command(BaseCommand):
    help = "Print the credit model's score stability, approvals by day and adverse impact by age band."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=DEFAULT_WINDOW_DAYS, help="window length (default: 30)")
        parser.add_argument(
            "--name", default=settings.CREDIT_MODEL_NAME, help="model name (default: CREDIT_MODEL_NAME)"
        )
        parser.add_argument("--sandbox", action="store_true", help="report sandbox decisions instead of live ones")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days"] < 1:
            raise CommandError("--days must be at least 1.")
        report = model_monitoring_report(name=options["name"], days=options["days"], livemode=not options["sandbox"])
        self.stdout.write("\n".join(report_lines(report)))
