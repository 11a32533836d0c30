"""Finding: amounts sent as strings were silently converted (DRF's IntegerField takes ``"100"``, and
``100.0``), and so were numbers sent for strings: the API acted on something the client did not say.

Walked from the schema: in every write operation's documented example, each integer (amounts, counts)
is sent as a string, a float and a boolean, and each string as a number; every case is a 400 naming the
field (nested ones by path) that writes nothing. And an input serializer cannot declare a lax field.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework import serializers

from bnpl.api.serializers import InputSerializer, StrictIntegerField
from tests.bnpl.api.test_bad_input import WRITE_OPERATIONS
from tests.conftest import ApiClient
from tests.helpers import row_counts
from tests.merchants.factories import Tenant
from tests.tenancy.owned_objects import OWNED_OBJECT_FACTORIES
from tests.tenancy.test_isolation import PATH_PARAMETER, _view_path_models


def _leaves(value: Any, param: str = "") -> Iterator[tuple[str, list[Any], Any]]:
    """(param as the API names it, path of keys into the body, value) of every scalar in ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from (
                (name, [key, *keys], leaf) for name, keys, leaf in _leaves(item, f"{param}.{key}" if param else key)
            )
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from ((name, [index, *keys], leaf) for name, keys, leaf in _leaves(item, f"{param}[{index}]"))
    else:
        yield param, [], value


def _replaced(body: Any, keys: list[Any], new: Any) -> Any:
    if not keys:
        return new
    copy = dict(body) if isinstance(body, dict) else list(body)
    copy[keys[0]] = _replaced(body[keys[0]], keys[1:], new)  # type: ignore[index]
    return copy


def _wrong_types(value: Any) -> list[Any]:
    if isinstance(value, bool):
        return ["true", 1]
    if isinstance(value, int):
        return [str(value), float(value), True]
    if isinstance(value, str):
        return [0, 12.5, False]
    return []


@pytest.mark.parametrize(
    ("path", "method", "operation"), WRITE_OPERATIONS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_a_value_of_another_json_type_is_refused_not_converted(
    path: str, method: str, operation: dict[str, Any], tenant: Tenant
) -> None:
    example = next(iter(operation["requestBody"]["content"]["application/json"]["examples"].values()))["value"]
    objects: dict[str, Any] = {
        name: OWNED_OBJECT_FACTORIES[model](merchant=tenant.merchant, livemode=False)
        for name, model in _view_path_models(path).items()
    }
    url = PATH_PARAMETER.sub(lambda match: objects[match.group(1)].public_id, path)
    api = ApiClient(tenant.test_key)
    leaves = list(_leaves(example))
    if not leaves:
        pytest.skip(f"{method.upper()} {path} takes no parameters")  # unknown parameters: tests/bnpl/api

    checked = 0
    for param, keys, value in leaves:
        for wrong in _wrong_types(value):
            before = row_counts()
            response = api.post(url, _replaced(example, keys, wrong))
            assert response.status_code == 400, (param, wrong, response.content[:300])
            error = response.json()["error"]
            assert (error["code"], error["param"]) == ("parameter_invalid", param), (wrong, error)
            assert row_counts() == before, f"{param}={wrong!r}: a refused request wrote rows"
            checked += 1
    assert checked


def test_string_amounts_are_refused_where_money_is_taken(api: ApiClient, tenant: Tenant) -> None:
    """The finding itself, on the checkout session: ``"12000"`` is not 12000."""
    from bnpl.checkout.apis import SESSION_EXAMPLE

    for body, param in (
        ({**SESSION_EXAMPLE, "amount": "12000"}, "amount"),
        (
            {**SESSION_EXAMPLE, "line_items": [{**SESSION_EXAMPLE["line_items"][0], "unit_amount": "9000"}]},  # type: ignore[index]
            "line_items[0].unit_amount",
        ),
    ):
        response = api.post("/api/v1/checkout/sessions", body)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == param
        assert response.json()["error"]["message"].endswith("Must be an integer, not a string.")


def test_an_input_serializer_cannot_declare_a_lax_field() -> None:
    with pytest.raises(TypeError, match="amount"):

        class LaxInput(InputSerializer):
            amount = serializers.IntegerField()

    with pytest.raises(TypeError, match=r"tags\[\]"):

        class LaxListInput(InputSerializer):
            tags = serializers.ListField(child=serializers.CharField())

    class StrictInput(InputSerializer):
        amount = StrictIntegerField()

    assert StrictInput(data={"amount": 5}).is_valid()
