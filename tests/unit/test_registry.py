"""emulation.registry: every module the local cloud starts or loads by string resolves, and so
does every `emulation.*` name the repository writes down (docs, Makefile, compose.yaml,
Dockerfile, docstrings and string literals), so a moved module cannot break a string silently."""

from __future__ import annotations

import importlib.util
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

from emulation import registry
from emulation.config import REPO_ROOT

DOTTED = re.compile(r"(?<![\w./-])emulation(?:\.[A-Za-z_]\w*)+(?::[A-Za-z_]\w*)?")
PATH = re.compile(r"(?<![\w./-])emulation/[\w/]+\.py\b")
TEXT_FILES = ("Makefile", "compose.yaml", "Dockerfile", ".ci/run", "pyproject.toml", "*.md",
              "docs/*.md", "glue_local/*.md", "pipeline/warehouse/*.sql")
CODE_DIRS = ("emulation", "pipeline", "glue_local", "deploy", "bench", "tests")


def runs_with_python_m(module: str) -> bool:
    spec = importlib.util.find_spec(module)
    if spec is None:
        return False
    if spec.submodule_search_locations is not None:  # a package runs its __main__
        return importlib.util.find_spec(module + ".__main__") is not None
    return 'if __name__ == "__main__":' in Path(spec.origin).read_text()


@pytest.mark.parametrize(
    "module",
    [registry.MOTO_SERVER, registry.RUNTIME, registry.LAMBDA_WORKER, registry.CONTAINER,
     *registry.CLIS],
)
def test_every_process_module_runs_with_python_m(module):
    assert runs_with_python_m(module), f"`python -m {module}` would not run"


@pytest.mark.parametrize("name,spec", registry.SERVICES)
def test_every_runtime_service_is_a_class_with_start_and_stop(name, spec):
    cls = pkgutil.resolve_name(spec)
    assert inspect.isclass(cls) and callable(cls.start) and callable(cls.stop), spec


@pytest.mark.parametrize("module", sorted({*registry.PROVISION_STEPS, *registry.TEMPLATE_PROVISION_STEPS}))
def test_every_provision_step_has_provision(module):
    assert callable(pkgutil.resolve_name(module).provision)


@pytest.mark.parametrize("module", registry.MOTO_PATCHES)
def test_every_moto_patch_has_apply(module):
    assert callable(pkgutil.resolve_name(module).apply)


def test_the_default_resource_description_resolves():
    from pipeline.resource_schema import Resources

    assert isinstance(pkgutil.resolve_name(registry.PIPELINE_RESOURCES), Resources)


def written_names() -> dict[str, set[str]]:
    """name -> files that write it, over the text files and the code (comments included)."""
    files = [p for pattern in TEXT_FILES for p in REPO_ROOT.glob(pattern)]
    files += [p for d in CODE_DIRS for p in (REPO_ROOT / d).rglob("*.py")]
    found: dict[str, set[str]] = {}
    for path in files:
        text = path.read_text(errors="replace")
        for name in DOTTED.findall(text) + PATH.findall(text):
            found.setdefault(name, set()).add(str(path.relative_to(REPO_ROOT)))
    return found


def resolves(name: str) -> bool:
    if "/" in name:
        return (REPO_ROOT / name).is_file()
    try:
        pkgutil.resolve_name(name)
    except (ImportError, AttributeError, ValueError):
        return False
    return True


def test_every_emulation_name_written_in_the_repository_resolves():
    names = written_names()
    assert len(names) > 50  # the scan reads the files: a broken glob must not pass on nothing
    broken = {name: sorted(where) for name, where in names.items() if not resolves(name)}
    assert not broken, f"names that no longer resolve (a module moved?): {broken}"
