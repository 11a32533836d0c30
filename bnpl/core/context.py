"""Per-request context (request id, acting principal) carried in context variables, so that audit
rows and events record who did what from which request without threading it through every call."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Who did it: ``kind`` is one of ``system``, ``operator``, ``merchant_user``, ``api_key``,
    ``consumer``, ``data_partner_key``; ``identifier`` is that principal's public id or username;
    ``label`` is for people."""

    kind: str
    identifier: str
    label: str = ""


SYSTEM = Actor(kind="system", identifier="system", label="System")


def consumer_actor(public_id: str) -> Actor:
    """A consumer as the audit log names them: by public id only, never by email or phone (the log
    is append-only, and an erasure must leave no contact detail behind)."""
    return Actor(kind="consumer", identifier=public_id, label="Consumer")


request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
actor_var: contextvars.ContextVar[Actor] = contextvars.ContextVar("actor", default=SYSTEM)
# The merchant (public id) and mode a request acts for, once known (API key or dashboard): for logs.
merchant_var: contextvars.ContextVar[tuple[str, bool] | None] = contextvars.ContextVar("merchant", default=None)


def merchant_known(public_id: str, livemode: bool) -> None:
    """Name the request's merchant and mode in its log lines (reset when the request ends)."""
    merchant_var.set((public_id, livemode))


def current_actor() -> Actor:
    return actor_var.get()


def current_request_id() -> str:
    return request_id_var.get()


@contextlib.contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    token = actor_var.set(actor)
    try:
        yield actor
    finally:
        actor_var.reset(token)
