"""A task queued from a prepared message: the message Celery would have sent, built once per
process; each call has its own id and arguments; an unreachable broker raises kombu's error every
time, so the caller can fall back (the webhook fan-out leaves its events to the sweep)."""

from __future__ import annotations

import socket
from typing import Any, cast

import pytest
from celery import Celery
from kombu import Producer
from kombu.exceptions import OperationalError

from bnpl.celery import app
from bnpl.core import task_messages
from bnpl.core.task_messages import PreparedTask
from merchants import webhooks


class Recorder:
    """A kombu producer's publish, recorded."""

    def __init__(self) -> None:
        self.published: list[tuple[Any, dict[str, Any]]] = []
        self.connection = self

    def _reraise_as_library_errors(self) -> Any:
        from contextlib import nullcontext

        return nullcontext()

    def publish(self, body: Any, **options: Any) -> None:
        self.published.append((body, options))


@pytest.fixture
def prepared(monkeypatch: pytest.MonkeyPatch) -> tuple[PreparedTask, Recorder]:
    task = PreparedTask(webhooks.FAN_OUT_TASK, app=app)
    recorder = Recorder()
    monkeypatch.setattr(task, "_producer", lambda _app: recorder)
    return task, recorder


def _celery_sends(args: tuple[Any, ...]) -> tuple[Any, dict[str, Any]]:
    recorder = Recorder()
    app.tasks[webhooks.FAN_OUT_TASK].apply_async(args=args, retry=False, producer=cast("Producer", recorder))
    (published,) = recorder.published
    return published


def test_the_prepared_message_is_the_one_celery_sends_but_for_its_id(
    prepared: tuple[PreparedTask, Recorder],
) -> None:
    task, recorder = prepared
    task.send(([7, 8, 9],))

    (body, options) = recorder.published[0]
    celery_body, celery_options = _celery_sends(([7, 8, 9],))
    assert body == celery_body
    task_id = options["correlation_id"]
    assert task_id != celery_options["correlation_id"]
    assert options["headers"]["id"] == options["headers"]["root_id"] == task_id
    same_but_ids = {name: value for name, value in options.items() if name not in ("headers", "correlation_id")}
    assert same_but_ids == {
        name: value for name, value in celery_options.items() if name not in ("headers", "correlation_id")
    }
    assert {name: value for name, value in options["headers"].items() if name not in ("id", "root_id")} == {
        name: value for name, value in celery_options["headers"].items() if name not in ("id", "root_id")
    }
    assert options["headers"]["task"] == webhooks.FAN_OUT_TASK
    assert options["routing_key"] == "urgent"
    assert options["headers"]["argsrepr"] == "([7, 8, 9],)"


def test_each_message_has_its_own_id_and_arguments_and_declares_its_queue_once(
    prepared: tuple[PreparedTask, Recorder],
) -> None:
    task, recorder = prepared
    task.send(([1],))
    task.send(([2, 3],))

    (first_body, first), (second_body, second) = recorder.published
    assert first_body[0] == ([1],) and second_body[0] == ([2, 3],)
    assert first["correlation_id"] != second["correlation_id"]
    assert first["headers"]["id"] != second["headers"]["id"]
    assert [queue.name for queue in first["declare"]] == ["urgent"]
    assert second["declare"] == []


def test_under_always_eager_the_task_runs_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[dict[str, Any]] = []
    monkeypatch.setattr(app.tasks[webhooks.FAN_OUT_TASK], "apply_async", lambda **kwargs: ran.append(kwargs))
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        PreparedTask(webhooks.FAN_OUT_TASK, app=app).send(([5],))
    finally:
        app.conf.task_always_eager = previous

    assert ran == [{"args": ([5],), "retry": False}]


def test_an_unreachable_broker_raises_kombus_error_and_the_next_call_connects_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # Celery prefers it to an app's own broker
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    elsewhere = Celery("elsewhere", broker=f"redis://127.0.0.1:{port}/0", set_as_current=False)

    @elsewhere.task(name="elsewhere.noop")
    def noop(event_ids: list[int]) -> None:
        return None

    task = PreparedTask("elsewhere.noop", app=elsewhere)

    with pytest.raises(OperationalError, match="Connection refused"):
        task.send(([1],))
    assert task._local.producer is None  # the next call connects again


def test_a_forked_child_connects_on_its_own_and_leaves_its_parents_connection_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    task = PreparedTask(webhooks.FAN_OUT_TASK, app=app)
    parents = task._producer(app)
    collected: list[object] = []
    monkeypatch.setattr(type(parents.connection), "collect", lambda connection: collected.append(connection))

    monkeypatch.setattr(task_messages.os, "getpid", lambda: -1)  # as a forked child sees itself
    childs = task._producer(app)

    assert childs is not parents and childs.connection is not parents.connection
    assert collected == []
    assert task._producer(app) is childs  # kept from then on


def test_headers_one_call_adds_are_not_frozen_into_later_messages(
    prepared: tuple[PreparedTask, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sentry's Celery integration adds the calling request's trace to each message, and a call made
    from inside a task names that task its parent: neither may follow every later message."""
    task, recorder = prepared
    fan_out = app.tasks[webhooks.FAN_OUT_TASK]
    apply_async = fan_out.apply_async

    def traced(*args: Any, **kwargs: Any) -> Any:
        kwargs["headers"] = {"sentry-trace": "first-request-trace", "baggage": "sentry-trace_id=first"}
        kwargs["parent_id"] = "a-task-of-the-first-call"
        return apply_async(*args, **kwargs)

    monkeypatch.setattr(fan_out, "apply_async", traced)
    task.send(([1],))
    task.send(([2],))
    for _body, options in recorder.published:
        assert "sentry-trace" not in options["headers"] and "baggage" not in options["headers"]
        assert options["headers"]["parent_id"] is None
