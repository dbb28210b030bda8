"""The code's shape: no import circles, no module using another's private names, no
widget judging a plan.

The import-linter contracts in pyproject.toml (``lint-imports``) hold the layers;
these checks cover what a contract cannot say module by module or name by name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
#: The project's packages and where their sources lie.
PACKAGES = {
    "planning_core": ROOT / "planning_core",
    "cryoplan_app": ROOT / "app" / "cryoplan_app",
    "cryoplan_samples": ROOT / "sample_data" / "cryoplan_samples",
}


def import_circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every group of modules that import each other in a circle (Tarjan's components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return circles


def private_uses(path: Path) -> list[str]:
    """Lines of ``path`` that read a private name of another project module or object.

    ``obj._name`` is allowed on ``self`` and ``cls`` and on modules outside the
    project (the standard library's ``argparse._SubParsersAction``); storing an
    attribute (``image._keep = array``) is the owner's business, not a use.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    external: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            external |= {
                (alias.asname or alias.name).split(".")[0]
                for alias in node.names
                if alias.name.split(".")[0] not in PACKAGES
            }
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] not in PACKAGES
        ):
            external |= {alias.asname or alias.name for alias in node.names}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (
            node.level > 0 or (node.module or "").split(".")[0] in PACKAGES
        ):
            found += [
                f"{path}:{node.lineno}: imports {alias.name}"
                for alias in node.names
                if _private(alias.name)
            ]
        elif (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and isinstance(node.ctx, ast.Load)
            and not (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"})
            and not (isinstance(node.value, ast.Name) and node.value.id in external)
        ):
            found.append(f"{path}:{node.lineno}: {ast.unparse(node)}")
    return found


#: What the widgets (``cryoplan_app.qt``) must leave to the logic: judging a plan and
#: measuring a label. Module -> names it must not give them (empty: the whole module).
JUDGING = {
    "planning_core.planning.acceptance": {"accept_plan", "paths_passed", "organs_at_risk_check"},
    "planning_core.segmentation.metrics": set(),
}


def judging_imports(path: Path) -> list[str]:
    """Lines of ``path`` importing a :data:`JUDGING` module or name."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                f"{path}:{node.lineno}: imports {alias.name}"
                for alias in node.names
                if any(alias.name == m or alias.name.startswith(m + ".") for m in JUDGING)
            ]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                whole = f"{node.module}.{alias.name}"
                names = JUDGING.get(node.module)
                if whole in JUDGING or names == set() or (names and alias.name in names):
                    found.append(f"{path}:{node.lineno}: imports {whole}")
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_import_circles():
    graph = grimp.build_graph(*PACKAGES)
    assert import_circles(graph) == []


def test_no_module_reads_another_modules_private_names():
    found = [
        line
        for source in PACKAGES.values()
        for path in sorted(source.rglob("*.py"))
        for line in private_uses(path)
    ]
    assert found == []


def test_no_widget_judges_a_plan_or_measures_a_label():
    # Issue 17: widgets show and forward; the logic (cryoplan_app.logic) judges the plan
    # checks and measures the tumor, and the panels read what it kept.
    found = [
        line
        for path in sorted((PACKAGES["cryoplan_app"] / "qt").rglob("*.py"))
        for line in judging_imports(path)
    ]
    assert found == []


def test_the_widget_rule_sees_each_way_of_importing(tmp_path):
    source = tmp_path / "panel.py"
    source.write_text(
        "import planning_core.segmentation.metrics\n"
        "from planning_core.segmentation import metrics\n"
        "from planning_core.segmentation.metrics import max_diameter_mm\n"
        "from planning_core.planning.acceptance import Acceptance, accept_plan\n"
        "from planning_core.planning.acceptance import CheckKind\n",
        encoding="utf-8",
    )
    assert [line.split(": ", 1)[1] for line in judging_imports(source)] == [
        "imports planning_core.segmentation.metrics",
        "imports planning_core.segmentation.metrics",
        "imports planning_core.segmentation.metrics.max_diameter_mm",
        "imports planning_core.planning.acceptance.accept_plan",
    ]
