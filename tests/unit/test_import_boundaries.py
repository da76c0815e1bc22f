"""The ship line and the import graph, read from the code with `ast`:
- what deploys (`pipeline/handlers/`, `pipeline/glue/`) is imported by nothing outside it but tests;
- glue_local (the `awsglue` stand-in) imports nothing of the local cloud (`emulation`);
- no two modules import each other, even through a lazy import inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

from emulation.config import REPO_ROOT

SHIPPED = ("pipeline.handlers", "pipeline.glue")
CODE = ("pipeline", "emulation", "deploy", "bench", "glue_local")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[0] == "glue_local":
        parts = parts[1:]  # glue_local/ is a sys.path entry: its package is `awsglue`
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, str]]:
    """(module the file imports, how it is written) for every import, nested ones included."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, f"import {alias.name}") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            found += [(f"{target}.{alias.name}", f"from {'.' * node.level}{node.module or ''} "
                       f"import {alias.name}") for alias in node.names]  # fmt: skip
    return found


def files(*tops: str) -> list[Path]:
    return sorted(p for top in tops for p in (REPO_ROOT / top).rglob("*.py"))


def under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_nothing_outside_the_shipped_code_imports_it():
    scanned = files(*CODE)
    assert len(scanned) > 100  # the scan reads the tree: a wrong root must not pass on nothing
    crossings = [
        f"{path.relative_to(REPO_ROOT)}: {written}"
        for path in scanned
        if not any(under(module_name(path), s) for s in SHIPPED)
        for target, written in imports(path)
        if any(under(target, s) for s in SHIPPED)
    ]
    assert not crossings, ("only tests may import pipeline/handlers and pipeline/glue:\n"
                           + "\n".join(crossings))


def test_glue_local_imports_nothing_of_the_local_cloud():
    scanned = files("glue_local")
    assert scanned
    crossings = [f"{path.relative_to(REPO_ROOT)}: {written}" for path in scanned
                 for target, written in imports(path) if under(target, "emulation")]
    assert not crossings, "glue_local must get the warehouse injected:\n" + "\n".join(crossings)


def test_no_import_cycle():
    """Cycles through lazy imports count too: they only hide the cycle. Imports made only for
    type checking (under `if TYPE_CHECKING:`) do not run and are left out."""
    known = {module_name(p): p for p in files(*CODE)}
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        type_only = _type_checking_imports(path)
        for target, written in imports(path):
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and not under(name, target) and written not in type_only:
                graph.setdefault(name, set()).add(target)
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c + [c[0]]) for c in cycles)


def _type_checking_imports(path: Path) -> set[str]:
    """The imports under `if TYPE_CHECKING:`, written as `imports` writes them."""
    written = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in ast.walk(node):
                if isinstance(sub, ast.ImportFrom):
                    written |= {f"from {'.' * sub.level}{sub.module or ''} import {a.name}"
                                for a in sub.names}
                elif isinstance(sub, ast.Import):
                    written |= {f"import {a.name}" for a in sub.names}
    return written


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One representative cycle per strongly connected component of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found
