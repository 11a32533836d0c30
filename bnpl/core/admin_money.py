"""Amounts in the operators' admin, formatted in their currency ("$1,234.56", never 123456).

Every model admin registered on the operators' site (and each of its inlines) is given this mixin
by ``OperatorAdminSite.register``, so an admin added later formats its amounts without opting in.
An amount is an integer field named ``amount``, ``…_amount`` or listed in ``OTHER_AMOUNT_FIELDS``;
its currency is the row's ``currency`` (or ``volume_currency``), else that of the nearest related
row that has one (a dispute's order, an attempt's installment's plan), read with the row in lists.

Lists and read-only fields show the formatted amount; a field an operator may edit stays the input
it is (in minor units).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from bnpl.core.money import format_amount

OTHER_AMOUNT_FIELDS = frozenset({"spending_limit", "balance_after", "balance_sum"})
CURRENCY_FIELDS = ("currency", "volume_currency")
FORMATTED_SUFFIX = "_in_currency"


def is_amount_field(field: models.Field[Any, Any]) -> bool:
    return isinstance(field, models.IntegerField) and (
        field.name == "amount" or field.name.endswith("_amount") or field.name in OTHER_AMOUNT_FIELDS
    )


def amount_field_names(model: type[models.Model]) -> list[str]:
    return [field.name for field in model._meta.concrete_fields if is_amount_field(field)]


@cache
def currency_path(model: type[models.Model], depth: int = 3) -> tuple[str, ...] | None:
    """The attributes from a row of ``model`` to its currency code, nearest first; None if none."""
    names = {field.name for field in model._meta.concrete_fields}
    for name in CURRENCY_FIELDS:
        if name in names:
            return (name,)
    if depth == 0:
        return None
    for field in model._meta.concrete_fields:
        if isinstance(field, models.ForeignKey):
            related = field.related_model
            if isinstance(related, type) and issubclass(related, models.Model):
                path = currency_path(related, depth - 1)
                if path is not None:
                    return (field.name, *path)
    return None


def formatted_amount(obj: models.Model, name: str) -> str:
    value = getattr(obj, name)
    if value is None:
        return "—"
    currency: Any = obj
    for step in currency_path(type(obj)) or ():
        currency = getattr(currency, step, None)
        if currency is None:
            break
    if not isinstance(currency, str) or not currency:
        return str(value)
    try:
        return format_amount(int(value), currency)
    except (KeyError, ValueError):  # a currency code we do not know: the number, not a guess
        return f"{value} {currency} minor units"


def _display(name: str, verbose_name: str) -> Callable[[Any, models.Model], str]:
    def show(model_admin: Any, obj: models.Model) -> str:
        return formatted_amount(obj, name)

    show.__name__ = f"{name}{FORMATTED_SUFFIX}"
    return admin.display(description=verbose_name, ordering=name)(show)


def _replaced(names: Sequence[Any], replace: dict[str, str]) -> list[Any]:
    """``names`` with each amount swapped for its formatted display (tuples of one line kept), once."""
    seen: set[str] = set()
    result: list[Any] = []
    for name in names:
        if isinstance(name, (list, tuple)):
            result.append(tuple(_replaced(name, replace)))
            continue
        shown = replace.get(name, name) if isinstance(name, str) else name
        if isinstance(shown, str):
            if shown in seen:
                continue
            seen.add(shown)
        result.append(shown)
    return result


class AmountsInCurrencyMixin:
    """For ``admin.ModelAdmin`` and inlines: amounts shown formatted in lists and read-only fields."""

    model: type[models.Model]

    def _amounts(self) -> dict[str, str]:
        return {name: f"{name}{FORMATTED_SUFFIX}" for name in amount_field_names(self.model)}

    def get_list_display(self, request: HttpRequest) -> Sequence[Any]:
        return _replaced(super().get_list_display(request), self._amounts())  # type: ignore[misc]

    def get_list_select_related(self, request: HttpRequest) -> Any:
        selected = super().get_list_select_related(request)  # type: ignore[misc]
        path = currency_path(self.model)
        if selected is True or path is None or len(path) == 1 or not self._amounts():
            return selected
        related = "__".join(path[:-1])
        return [*(selected or ()), related]

    def _read_only_amounts(self, request: HttpRequest, obj: Any) -> dict[str, str]:
        """The amounts shown read-only: those the admin makes read-only, or all of them on a page
        the operator may only view (where Django shows every field read-only)."""
        amounts = self._amounts()
        if not amounts:
            return {}
        if not self.has_change_permission(request, obj):  # type: ignore[attr-defined]
            return amounts
        readonly = set(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        return {name: shown for name, shown in amounts.items() if name in readonly}

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Sequence[str]:
        readonly = list(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        return readonly + [shown for shown in self._read_only_amounts(request, obj).values() if shown not in readonly]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        replace = self._read_only_amounts(request, obj)
        return [
            (title, {**options, "fields": _replaced(options.get("fields", ()), replace)})
            for title, options in super().get_fieldsets(request, obj)  # type: ignore[misc]
        ]


def _verbose_name(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    return str(getattr(field, "verbose_name", name))


def with_amounts_in_currency(admin_class: type[Any], model: type[models.Model]) -> type[Any]:
    """``admin_class`` (and its inlines) with the amounts of its rows formatted in their currency."""
    if issubclass(admin_class, AmountsInCurrencyMixin):
        return admin_class
    inlines = [with_amounts_in_currency(inline, inline.model) for inline in getattr(admin_class, "inlines", [])]
    displays = {
        f"{name}{FORMATTED_SUFFIX}": _display(name, _verbose_name(model, name)) for name in amount_field_names(model)
    }
    return type(
        admin_class.__name__,
        (AmountsInCurrencyMixin, admin_class),
        {
            "__module__": admin_class.__module__,
            "__qualname__": admin_class.__qualname__,
            "inlines": inlines,
            **displays,
        },
    )
