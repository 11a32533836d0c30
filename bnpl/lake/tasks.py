"""Celery doors to the lake export (beat: events every minute, tables hourly). Safe to overlap:
a run that finds the stream held by another exporter does nothing, and the database, not the
queue, says what was exported."""

from __future__ import annotations

from celery import shared_task

from bnpl.lake import eventbus, export


@shared_task(name="bnpl.lake.tasks.lake_export_events")
def lake_export_events() -> list[str]:
    return [str(report) for report in export.lake_export(streams=("events",))]


@shared_task(name="bnpl.lake.tasks.lake_export_tables")
def lake_export_tables() -> list[str]:
    return [str(report) for report in export.lake_export(streams=("ledger_postings", export.SNAPSHOTS))]


@shared_task(name="bnpl.lake.tasks.event_bus_relay")
def event_bus_relay() -> str:
    """The outbox to EventBridge or Kinesis (bnpl.lake.eventbus); nothing while EVENT_BUS_RELAY is empty."""
    return str(eventbus.relay_events())
