"""Errors of the ledger. They mean a bug in the calling service (a ledger post is never built from
unchecked input), so they derive from ``ValueError`` and are not public API errors."""

from __future__ import annotations


class LedgerError(ValueError):
    pass


class InvalidEntryError(LedgerError):
    """No lines, a zero or out-of-range amount, an unknown account code or currency, an unsaved dimension."""


class UnbalancedEntryError(LedgerError):
    """The lines do not sum to exactly zero."""


class CurrencyMismatchError(LedgerError):
    """A line names a currency other than the entry's: one entry moves one currency."""


class IdempotencyConflictError(LedgerError):
    """The idempotency key already posted a different entry."""
