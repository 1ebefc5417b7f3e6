"""An import-linter contract type: importers use only the public modules of a package.

import-linter's module expressions take whole segments (`pkg.**`), not `_*`, so a rule over
every underscore module, present and future, needs its own contract type. pyproject.toml
registers it as `private` and uses it to keep tests/ and bench/ on deployunits' public modules.
"""

from typing import Any

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output


class PrivateModulesContract(Contract):
    """No module of `importers` imports a module of `package` that has a `_`-prefixed segment
    (dunder modules such as `__main__` excepted)."""

    type_name = "private"

    importers = fields.ListField(subfield=fields.ModuleField())
    package = fields.ModuleField()

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        package = self.package.name  # type: ignore[attr-defined]
        private = {
            module
            for module in graph.find_descendants(package)
            if any(
                part.startswith("_") and not part.startswith("__") for part in module.split(".")[1:]
            )
        }
        importers: set[str] = set()
        for importer in self.importers:  # type: ignore[attr-defined]
            importers |= {importer.name, *graph.find_descendants(importer.name)}
        illegal: list[dict[str, Any]] = []
        for imported in sorted(private):
            for importer in sorted(graph.find_modules_that_directly_import(imported) & importers):
                details = graph.get_import_details(importer=importer, imported=imported)
                lines = tuple(detail["line_number"] for detail in details)
                illegal.append({"importer": importer, "imported": imported, "lines": lines})
        return ContractCheck(kept=not illegal, metadata={"illegal": illegal})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for link in check.metadata["illegal"]:
            lines = ", ".join(map(str, link["lines"]))
            output.print_error(f"- {link['importer']} -> {link['imported']} (l.{lines})")
            output.new_line()
