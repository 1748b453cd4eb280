"""An import-linter contract type the built-in ones lack: an allow-list.

`forbidden` lists what may not be imported, so a module added later slips through; this one lists
what may be: every direct import from `source_modules` into `target_package` must land in one of
`allowed_modules` (module expressions, wildcards allowed; each counts with its sub-modules).
Used by .importlinter for "reviews imports only annotator's models, services, selectors, signals,
domain and web".
"""
from importlinter import Contract, ContractCheck, fields, output
from importlinter.domain import helpers


class AllowedImportsContract(Contract):
    type_name = "allowed_imports"

    source_modules = fields.ListField(subfield=fields.ModuleExpressionField())
    target_package = fields.ModuleField()
    allowed_modules = fields.ListField(subfield=fields.ModuleExpressionField())

    def check(self, graph, verbose: bool) -> ContractCheck:
        target = self.target_package.name
        sources = {m.name for m in helpers.module_expressions_to_modules(graph, self.source_modules, as_packages=True)}
        allowed = {m.name for m in helpers.module_expressions_to_modules(graph, self.allowed_modules, as_packages=True)}
        illegal = []
        for importer in sorted(sources):
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                if (imported == target or imported.startswith(target + ".")) and imported not in allowed:
                    lines = [d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported)]
                    illegal.append((importer, imported, lines))
        return ContractCheck(kept=not illegal, metadata={"illegal": illegal})

    def render_broken_contract(self, check: ContractCheck) -> None:
        output.print_error(f"Imports of {self.target_package.name} outside the allowed modules:", bold=False)
        output.new_line()
        for importer, imported, lines in check.metadata["illegal"]:
            output.print_error(f"- {importer} -> {imported} (l.{', '.join(map(str, lines))})", bold=False)
            output.new_line()
