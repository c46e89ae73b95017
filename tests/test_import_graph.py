"""No import cycle between the project's modules: imports are read from the source (those inside
functions too, which a cycle hides behind at run time), and the strongly connected components
of that graph must all be single modules."""

from __future__ import annotations

import ast

from ingestion.settings import PROJECT_ROOT

PACKAGES = (
    "ingestion",
    "orchestration",
    "expectations",
    "alerts",
    "publish",
    "privacy",
    "dashboard",
    "simulator",
)


def import_graph() -> dict[str, set[str]]:
    modules = {}
    for package in PACKAGES:
        for path in (PROJECT_ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                candidates = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                continue
            found |= {c for c in candidates if c in modules}
        graph[name] = found - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_detector_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_the_project():
    graph = import_graph()
    assert "orchestration.run" in graph and "simulator.world" in graph
    assert cycles(graph) == []


# The libraries: Dagster wiring lives in orchestration/ only; these know nothing of it.
LIBRARIES = ("ingestion", "expectations", "alerts", "publish", "privacy", "dashboard", "simulator")


def imported_names(package: str) -> dict[str, set[str]]:
    """Every module name each file of `package` imports (inside functions too)."""
    names = {}
    for path in (PROJECT_ROOT / package).rglob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        names[str(path.relative_to(PROJECT_ROOT))] = found
    return names


def test_libraries_know_nothing_of_dagster_or_the_orchestration():
    wiring = ("dagster", "orchestration")
    found = {
        path: sorted(n for n in names if n.split(".")[0] in wiring)
        for package in LIBRARIES
        for path, names in imported_names(package).items()
    }
    assert {path: names for path, names in found.items() if names} == {}
    # the check itself sees an import of the wiring
    assert "orchestration.run" in imported_names("orchestration")["orchestration/privacy.py"]
