"""The project's own import-linter contract types (scripts/import_contracts.py), on small graphs,
and the project itself against .importlinter: a layer broken or a cycle made fails `make lint`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from scripts.import_contracts import AcyclicModulesContract, TiersContract

ROOT = Path(__file__).resolve().parents[2]

TIERS = {
    "tiers": ["doors", "domain", "core"],
    "modules": ["shop.apis -> doors", "shop.core -> core", "shop$ -> doors", "shop -> domain"],
}


def _graph(*imports: tuple[str, str]) -> grimp.ImportGraph:
    graph = grimp.ImportGraph()
    for module in ("shop", "shop.apis", "shop.core", "shop.orders", "shop.refunds"):
        graph.add_module(module)
    for number, (importer, imported) in enumerate(imports, start=1):
        graph.add_import(importer=importer, imported=imported, line_number=number, line_contents=f"import {imported}")
    return graph


def test_imports_down_and_sideways_keep_the_tiers() -> None:
    graph = _graph(("shop.apis", "shop.orders"), ("shop.orders", "shop.refunds"), ("shop.orders", "shop.core"))

    check = TiersContract("tiers", {}, TIERS).check(graph, verbose=False)

    assert check.kept
    assert check.metadata == {"upward": [], "unplaced": []}


def test_an_import_up_a_tier_breaks_them_naming_the_line() -> None:
    graph = _graph(("shop.core", "shop.orders"), ("shop.orders", "shop.apis"))

    check = TiersContract("tiers", {}, TIERS).check(graph, verbose=False)

    assert not check.kept
    assert check.metadata["upward"] == [
        {
            "importer": "shop.core",
            "importer_tier": "core",
            "imported": "shop.orders",
            "imported_tier": "domain",
            "lines": "l.1",
        },
        {
            "importer": "shop.orders",
            "importer_tier": "domain",
            "imported": "shop.apis",
            "imported_tier": "doors",
            "lines": "l.2",
        },
    ]


def test_a_module_no_pattern_places_breaks_them() -> None:
    options = {"tiers": ["doors", "core"], "modules": ["shop.apis -> doors", "shop.core -> core"]}

    check = TiersContract("tiers", {}, options).check(_graph(), verbose=False)

    assert not check.kept
    assert check.metadata["unplaced"] == ["shop", "shop.orders", "shop.refunds"]


def test_a_pattern_naming_an_unknown_tier_is_a_configuration_error() -> None:
    options = {"tiers": ["doors"], "modules": ["shop -> nowhere"]}

    with pytest.raises(ValueError, match="'nowhere' is not one of the tiers"):
        TiersContract("tiers", {}, options).check(_graph(), verbose=False)


def test_a_cycle_between_modules_is_found_with_its_lines() -> None:
    graph = _graph(("shop.orders", "shop.refunds"), ("shop.refunds", "shop.core"), ("shop.core", "shop.orders"))

    check = AcyclicModulesContract("acyclic", {}, {}).check(graph, verbose=False)

    assert not check.kept
    assert check.metadata["cycles"] == [
        ["shop.core -> shop.orders (l.3)", "shop.orders -> shop.refunds (l.1)", "shop.refunds -> shop.core (l.2)"]
    ]


def test_no_cycle_no_complaint() -> None:
    graph = _graph(("shop.orders", "shop.refunds"), ("shop.refunds", "shop.core"))

    assert AcyclicModulesContract("acyclic", {}, {}).check(graph, verbose=False).kept


def test_the_project_keeps_its_contracts() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout
