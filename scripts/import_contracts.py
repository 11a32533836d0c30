"""Two import-linter contract types that the project's layer picture needs and the built-in ones
cannot say (``make lint`` runs them with the contracts in ``.importlinter``).

``tiers``: every module of the project is placed in a tier by the first pattern it matches
(``modules``, one ``pattern -> tier`` per line; a pattern matches a module and everything inside
it, or with a final ``$`` the module alone; ``*`` matches any characters, dots included).
``tiers`` lists the tiers from the top down. A module may import modules of its own tier or lower;
an import of a higher tier breaks the contract, and so does a module no pattern places (a new
package has to be given a tier). Unlike the built-in ``layers`` contract, one tier can gather
modules from every app: all the APIs, views, admin and tasks form the top tier wherever they live.

``acyclic_modules``: no import cycle between modules at all (the strongly connected components of
the module graph, every import counted, deferred ones inside functions included).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import cast

import grimp
from importlinter import Contract, ContractCheck, fields, output


def _matches(module: str, pattern: str) -> bool:
    if pattern.endswith("$"):  # this module only, not what is inside it
        return fnmatch.fnmatchcase(module, pattern[:-1])
    return fnmatch.fnmatchcase(module, pattern) or fnmatch.fnmatchcase(module, pattern + ".*")


def _line_numbers(graph: grimp.ImportGraph, importer: str, imported: str) -> str:
    details = graph.get_import_details(importer=importer, imported=imported)
    return ", ".join(f"l.{detail['line_number']}" for detail in details) or "?"


def _project_imports(graph: grimp.ImportGraph, modules: Iterable[str]) -> Iterable[tuple[str, str]]:
    project = set(modules)
    for importer in sorted(project):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if imported in project:
                yield importer, imported


class TiersContract(Contract):
    type_name = "tiers"

    tiers = fields.ListField(subfield=fields.StringField())
    modules = fields.ListField(subfield=fields.StringField())

    def _tiers(self) -> list[str]:
        return cast(list[str], self.tiers)

    def _placement(self) -> list[tuple[str, str]]:
        placement = []
        for line in cast(list[str], self.modules):
            pattern, _, tier = (part.strip() for part in line.partition("->"))
            if tier not in self._tiers():
                raise ValueError(f"{line!r}: {tier!r} is not one of the tiers {self._tiers()}.")
            placement.append((pattern, tier))
        return placement

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        placement = self._placement()
        tiers = self._tiers()
        rank = {tier: len(tiers) - index for index, tier in enumerate(tiers)}
        tier_of: dict[str, str] = {}
        unplaced = []
        for module in sorted(graph.modules):
            tier: str | None = next((tier for pattern, tier in placement if _matches(module, pattern)), None)
            if tier is None:
                unplaced.append(module)
            else:
                tier_of[module] = tier
        upward = [
            {
                "importer": importer,
                "importer_tier": tier_of[importer],
                "imported": imported,
                "imported_tier": tier_of[imported],
                "lines": _line_numbers(graph, importer, imported),
            }
            for importer, imported in _project_imports(graph, tier_of)
            if rank[tier_of[imported]] > rank[tier_of[importer]]
        ]
        return ContractCheck(kept=not upward and not unplaced, metadata={"upward": upward, "unplaced": unplaced})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for module in check.metadata["unplaced"]:
            output.print_error(f"{module} is in no tier: add a pattern for it to `modules`.", bold=False)
        for found in check.metadata["upward"]:
            output.print_error(
                f"{found['importer']} ({found['importer_tier']}) imports {found['imported']} "
                f"({found['imported_tier']}), a higher tier ({found['lines']})",
                bold=False,
            )
        output.new_line()
        output.print(f"Tiers, top down: {' > '.join(self._tiers())}. Imports go down or sideways, never up.")


class AcyclicModulesContract(Contract):
    type_name = "acyclic_modules"

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        edges: dict[str, set[str]] = {module: set() for module in graph.modules}
        for importer, imported in _project_imports(graph, graph.modules):
            if importer != imported:
                edges[importer].add(imported)
        cycles = [sorted(component) for component in _strongly_connected(edges) if len(component) > 1]
        rendered = [
            [
                f"{module} -> {target} ({_line_numbers(graph, module, target)})"
                for module in cycle
                for target in sorted(edges[module] & set(cycle))
            ]
            for cycle in sorted(cycles)
        ]
        return ContractCheck(kept=not cycles, metadata={"cycles": rendered})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in check.metadata["cycles"]:
            output.print_error("These modules import each other in a cycle:", bold=False)
            for line in cycle:
                output.print(f"    {line}")
            output.new_line()


def _strongly_connected(edges: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iteratively (the graph is a few hundred modules)."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = lowlink[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = lowlink[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    lowlink[node] = min(lowlink[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                lowlink[parent] = min(lowlink[parent], lowlink[node])
            if lowlink[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components
