"""Statements a hot path runs on every call, prepared once per PostgreSQL connection.

Parsing and planning a statement can cost more than running it: a credit decision's read plans in
several times the time it runs in, and its write (three INSERTs in one statement) spends about as
long being parsed as being executed. A statement run through ``execute`` is prepared the first
time a connection runs it and executed by name after that.

Its name carries a digest of its text, so a statement of another version of this code (through a
pooler, a server connection serves many) is never taken for it. It is used only where it cannot
harm: on PostgreSQL, outside a transaction (a failure would abort the caller's), and not behind a
pooler in transaction mode. There, outside a transaction, each statement is a transaction of its
own and may reach another server connection than the PREPARE did, so whether a statement is found
would depend on what the pool's other clients are doing. ``DATABASE_TRANSACTION_POOLING`` turns it
off; a pooler nobody declared shows itself the first time a statement is not found, and this
connection stops trying. ``execute`` answers False where it is not used, and the caller runs the
plain statement.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection

_PREPARED = "_bnpl_prepared_statements"  # on the connection wrapper: (driver connection, names) or False
_ALREADY_PREPARED, _NOT_PREPARED = "42P05", "26000"  # PostgreSQL's error codes
_PLACEHOLDER = re.compile(r"%%|%s|%\((\w+)\)s")


@dataclass(frozen=True)
class _Statement:
    name: str
    prepare: str  # PREPARE name [(types)] AS the statement with $1, $2…
    execute: str  # EXECUTE name (…) with the caller's placeholders, for the caller's parameters


_statements: dict[tuple[str, tuple[tuple[str, str], ...]], _Statement] = {}


def _statement(sql: str, types: Mapping[str, str]) -> _Statement:
    """``sql`` as a named statement. Positional (``%s``) parameters take the types PostgreSQL
    infers; named ones (``%(name)s``) are numbered in the order of ``types``, which gives theirs."""
    key = (sql, tuple(types.items()))
    found = _statements.get(key)
    if found is not None:
        return found
    numbers = {name: number for number, name in enumerate(types, 1)}
    positional = 0

    def numbered(match: re.Match[str]) -> str:
        nonlocal positional
        if match.group(0) == "%%":
            return "%"
        if match.group(1) is not None:
            return f"${numbers[match.group(1)]}"
        positional += 1
        return f"${positional}"

    body = _PLACEHOLDER.sub(numbered, sql)
    name = "bnpl_" + hashlib.sha256(f"{types}\n{sql}".encode()).hexdigest()[:20]
    declared = f" ({', '.join(types.values())})" if types else ""
    arguments = [f"%({parameter})s" for parameter in types] if types else ["%s"] * positional
    return _statements.setdefault(
        key,
        _Statement(
            name=name,
            prepare=f"PREPARE {name}{declared} AS {body}",
            execute=f"EXECUTE {name}" + (f" ({', '.join(arguments)})" if arguments else ""),
        ),
    )


def execute(
    cursor: Any, sql: str, params: Sequence[Any] | Mapping[str, Any], *, types: Mapping[str, str] | None = None
) -> bool:
    """Run ``sql`` with ``params`` on ``cursor`` as a prepared statement; False (nothing run) where
    one cannot be used (see the module's docstring). Named parameters need their ``types`` (their
    order numbers them)."""
    if connection.vendor != "postgresql" or connection.in_atomic_block or settings.DATABASE_TRANSACTION_POOLING:
        return False
    prepared = getattr(connection, _PREPARED, None)
    if prepared is False:
        return False
    statement = _statement(sql, types or {})
    try:
        if prepared is None or prepared[0] is not connection.connection:
            names: set[str] = set()
            prepared = (connection.connection, names)
            setattr(connection, _PREPARED, prepared)
        if statement.name not in prepared[1]:
            _prepare(cursor, statement)
            prepared[1].add(statement.name)
        cursor.execute(statement.execute, params)
    except DatabaseError as error:
        if getattr(error.__cause__, "pgcode", None) != _NOT_PREPARED:
            raise
        setattr(connection, _PREPARED, False)
        return False
    return True


def _prepare(cursor: Any, statement: _Statement) -> None:
    try:
        cursor.execute(statement.prepare)
    except DatabaseError as error:
        if getattr(error.__cause__, "pgcode", None) != _ALREADY_PREPARED:
            raise


def stopped_on_this_connection() -> bool:
    """Whether this connection has stopped preparing statements (a pooler was found in between)."""
    return getattr(connection, _PREPARED, None) is False


def forget() -> None:
    """Forget what this connection prepared and whether it may (the next statement tries again)."""
    if hasattr(connection, _PREPARED):
        delattr(connection, _PREPARED)
