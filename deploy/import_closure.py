"""Which of the repository's own modules a script imports, directly or through each other.

The Glue job ships as one script plus a zip (`--extra-py-files`) that must hold every first-party
module the script reaches: a module missing from the zip is a ModuleNotFoundError on AWS only.
The closure is read from the source (`ast`), not by importing it, so computing it needs neither
pyspark nor awsglue; imports inside functions count too (they run on AWS all the same).
"""

from __future__ import annotations

import ast
from pathlib import Path


def module_file(root: Path, name: str) -> Path | None:
    """`pipeline.glue.transforms` -> root/pipeline/glue/transforms.py (or the package's __init__)."""
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(tree: ast.AST, package: str) -> set[str]:
    """Absolute names a module's import statements may load (`from a import b`: a and a.b)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def first_party_closure(script: Path, root: Path, packages: tuple[str, ...]) -> list[Path]:
    """Files under `root` of the `packages` the script reaches, with every parent `__init__.py`."""
    found: set[Path] = set()
    pending = [(script, "")]
    while pending:
        path, package = pending.pop()
        for name in _imported(ast.parse(path.read_text(), str(path)), package):
            if name.split(".")[0] not in packages:
                continue
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):
                prefix = ".".join(parts[:depth])
                file = module_file(root, prefix)
                if file is None or file in found:
                    continue
                found.add(file)
                is_package = file.name == "__init__.py"
                pending.append((file, prefix if is_package else prefix.rpartition(".")[0]))
    return sorted(found)
