"""A Celery task queued on a hot path from a message prepared once per process.

``Task.apply_async`` builds every message from scratch: it merges the task's options, routes it,
renders its headers (the sender's node name, the arguments' repr), acquires a producer from a
pool, runs the publish signals, checks that the queue was declared and makes a result object. For
a task queued after every committed request (the webhook fan-out) that was about a sixth of the
request's CPU. A task whose messages differ only in their id and arguments can skip all of it:
Celery builds the message once, for a recording producer, and each call copies that message
with its own id and arguments and publishes it on a producer the calling thread keeps.

The message is the one Celery would send (the same headers, properties, routing, serializer and
delivery mode), so workers cannot tell the two apart. Left out, on purpose: the publish signals
and the parent and root ids of a task queued from inside another (nothing here connects to the
signals, and the tasks sent this way are leaves whose results no one reads), and any header an
integration adds per call: Sentry's trace does not follow the fan-out to its worker. Errors are Celery's
too: an unreachable broker raises kombu's ``OperationalError``, and the thread's producer is
dropped, so the next call connects again. Under ``task_always_eager`` the task runs in place, as
``apply_async`` would run it.

The thread's producer follows Celery's connection pool and the process: a new pool (once the
broker settings changed and the pool was reset) or a forked child means a new connection.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from dataclasses import dataclass
from typing import Any, cast

from celery import Celery, current_app
from celery.utils.saferepr import saferepr
from kombu import Connection, Producer
from kombu.exceptions import OperationalError

_ARGUMENTS_MARKER = ("__prepared_task_arguments__",)
# The headers of Celery's task message (protocol 2: celery.app.amqp.AMQP.as_task_v2).
_CELERY_HEADERS = frozenset(
    (
        "lang", "task", "id", "shadow", "eta", "expires", "group", "group_index", "retries", "timelimit",
        "root_id", "parent_id", "argsrepr", "kwargsrepr", "origin", "ignore_result", "replaced_task_nesting",
        "stamped_headers", "stamps",
    )
)  # fmt: skip


@dataclass(frozen=True)
class _Template:
    """What Celery published for one call, with the parts each call changes left to fill in."""

    pid: int
    headers: dict[str, Any]
    properties: dict[str, Any]
    body_rest: tuple[Any, ...]  # the body after its arguments: keyword arguments and the embed
    publish_options: dict[str, Any]  # exchange, routing key, serializer, delivery mode, declare, ...
    argsrepr_maxsize: int
    argsrepr_maxlevels: int


class _RecordingProducer:
    """Stands in for a kombu producer while Celery builds the template: records the publish."""

    def __init__(self) -> None:
        self.published: tuple[Any, dict[str, Any]] | None = None
        self.connection = self

    @contextlib.contextmanager
    def _reraise_as_library_errors(self) -> Any:
        yield

    def publish(self, body: Any, **options: Any) -> None:
        self.published = (body, options)


class _ThreadProducer(threading.local):
    pid: int = 0  # the process that connected (a forked child connects again)
    pool: object | None = None
    connection: Connection | None = None
    producer: Producer | None = None
    declared: bool = False


class PreparedTask:
    """``send(args)`` queues the named task as ``apply_async(args=args, retry=False)`` would."""

    def __init__(self, name: str, *, app: Celery | None = None) -> None:
        self.name = name
        self._app = app
        self._template: _Template | None = None
        self._lock = threading.Lock()
        self._local = _ThreadProducer()

    @property
    def app(self) -> Celery:
        return self._app or current_app

    def send(self, args: list[Any] | tuple[Any, ...]) -> None:
        app = self.app
        if app.conf.task_always_eager:
            app.tasks[self.name].apply_async(args=tuple(args), retry=False)
            return
        template = self._prepared()
        task_id = str(uuid.uuid4())
        arguments = tuple(args)
        headers = {
            **template.headers,
            "id": task_id,
            "root_id": task_id,
            "argsrepr": saferepr(arguments, template.argsrepr_maxsize, maxlevels=template.argsrepr_maxlevels),
        }
        body = (arguments, *template.body_rest)
        local = self._local
        try:
            producer = self._producer(app)
            options = template.publish_options
            if local.declared:
                options = {**options, "declare": []}
            producer.publish(body, headers=headers, correlation_id=task_id, **template.properties, **options)
            local.declared = True
        except Exception as error:
            if not isinstance(error, (OperationalError, *self._broker_errors())):
                raise
            self._drop()
            raise OperationalError(str(error)) from error

    def forget(self) -> None:
        """Build the message and this thread's producer again on the next call (tests that change
        the routing or the broker)."""
        self._template = None
        self._drop()

    def _prepared(self) -> _Template:
        template = self._template
        if template is not None and template.pid == os.getpid():
            return template
        with self._lock:
            template = self._template
            if template is None or template.pid != os.getpid():
                template = self._template = self._record()
        return template

    def _record(self) -> _Template:
        app = self.app
        recorder = _RecordingProducer()
        app.tasks[self.name].apply_async(args=_ARGUMENTS_MARKER, retry=False, producer=cast("Producer", recorder))
        assert recorder.published is not None, "Celery published nothing to the recording producer"
        body, options = recorder.published
        arguments, *body_rest = body
        assert tuple(arguments) == _ARGUMENTS_MARKER, "Celery's message body is not (args, kwargs, embed)"
        # Celery's own headers only, and none of the call's: an integration that adds headers per call
        # (Sentry's trace and baggage) and the parent of a call made from inside a task would
        # otherwise be frozen into every later message.
        headers = {name: value for name, value in options.pop("headers").items() if name in _CELERY_HEADERS}
        headers["parent_id"] = None
        properties = {"reply_to": options.pop("reply_to", "")}
        options.pop("correlation_id", None)
        for name in ("id", "root_id", "argsrepr"):
            headers.pop(name, None)
        return _Template(
            pid=os.getpid(),
            headers=headers,
            properties=properties,
            body_rest=tuple(body_rest),
            publish_options=options,
            argsrepr_maxsize=app.amqp.argsrepr_maxsize,
            argsrepr_maxlevels=app.conf.task_repr_maxlevels,
        )

    def _producer(self, app: Celery) -> Producer:
        local = self._local
        pool = app.pool  # Celery makes a new one once its broker settings are reset
        if local.producer is None or local.pool is not pool or local.pid != os.getpid():
            if local.pid == os.getpid():
                self._drop()  # a connection inherited from a parent is left alone: its socket is the parent's
            local.connection = app.connection_for_write()
            local.producer = Producer(local.connection, auto_declare=False)
            local.pool, local.pid = pool, os.getpid()
            local.declared = False
        return local.producer

    def _broker_errors(self) -> tuple[type[BaseException], ...]:
        connection = self._local.connection
        if connection is None:
            return ()
        return tuple(connection.connection_errors) + tuple(connection.channel_errors)

    def _drop(self) -> None:
        local = self._local
        connection = local.connection
        local.pool = local.connection = local.producer = None
        local.declared = False
        if connection is not None:
            # A broken connection may fail to close; it is dropped either way (collect sends nothing).
            with contextlib.suppress(Exception):
                connection.collect()
