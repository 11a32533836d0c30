import pytest

from bnpl.core.ids import generate_public_id, is_public_id
from tests.merchants.factories import make_merchant


def test_public_ids_are_prefixed_random_and_unique() -> None:
    ids = {generate_public_id("ord") for _ in range(2000)}
    assert len(ids) == 2000
    assert all(is_public_id(value, "ord") for value in ids)
    assert not is_public_id("ord_123", "ord")
    assert not is_public_id(generate_public_id("ord"), "pln")


def test_bad_prefixes_are_refused() -> None:
    with pytest.raises(ValueError, match="prefix"):
        generate_public_id("Order")


@pytest.mark.django_db
def test_models_get_their_public_id_on_first_save() -> None:
    merchant = make_merchant()
    assert is_public_id(merchant.public_id, "mer")
    public_id = merchant.public_id
    merchant.save()
    assert merchant.public_id == public_id


def test_docs_list_every_public_id_prefix() -> None:
    from pathlib import Path

    from django.apps import apps

    from bnpl.core.models import PublicIdModel

    prefixes = {
        model.PUBLIC_ID_PREFIX
        for model in apps.get_models()
        if issubclass(model, PublicIdModel) and model.PUBLIC_ID_PREFIX
    }
    documented = (Path(__file__).resolve().parents[3] / "docs" / "api.md").read_text()

    assert prefixes and {prefix for prefix in prefixes if f"`{prefix}_`" not in documented} == set()
