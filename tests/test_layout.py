"""The layout's rules, checked on the source: imports run one way (winback/ and ml/ are plain
Python that orchestration/ uses, never the other way round), and winback/ has no import
cycles."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLAIN_PACKAGES = ("winback", "ml")
FORBIDDEN = ("dagster", "dagster_dbt", "dagster_duckdb", "dagster_webserver", "orchestration")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, package: str | None = None) -> set[str]:
    """Every module a file imports, at the top or inside a function, absolute names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    if package is None:
        package = _module_name(path) if path.name == "__init__.py" else _module_name(path.parent)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _plain_files() -> list[Path]:
    return [p for pkg in PLAIN_PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))]


def test_winback_and_ml_import_neither_dagster_nor_orchestration():
    offenders = {
        str(path.relative_to(REPO)): sorted(
            m for m in _imports(path) if m.split(".")[0] in FORBIDDEN
        )
        for path in _plain_files()
    }
    assert {f: m for f, m in offenders.items() if m} == {}


def test_winback_modules_import_each_other_without_cycles():
    modules = {_module_name(p): p for p in _plain_files()}
    graph = {
        name: {m for m in _imports(path) if m in modules and m != name}
        for name, path in modules.items()
    }
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in stack:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif len(stack) < len(graph):
                visit(nxt, stack + [nxt])

    for start in sorted(graph):
        visit(start, [start])
    assert cycles == []


def test_the_checker_sees_imports_inside_functions(tmp_path):
    """The rule must be able to fail: a lazy import inside a function counts too."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from orchestration.runner import run_pipeline\n")
    assert "orchestration.runner" in _imports(probe, package="winback")
