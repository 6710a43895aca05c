"""oracle_api's modules import downward only, and no set of modules imports itself round a circle.

The layers follow a span: the shared model at the bottom, then receive and store, the Oracle that
derives state from what was stored, the API that serves both, the server that wires them, the CLI.
Imports under ``if TYPE_CHECKING:`` count too: a circle for the type checker is a circle to a reader.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "oracle_api" / "telemetron_oracle_api"
ROOT = PACKAGE.name

# First path part under the package -> layer; a module may import its own layer or those below.
LAYERS = {
    "model": 0,
    "formats": 0,
    "settings": 0,
    "hub": 0,
    "_gc": 0,
    "_gil": 0,
    "_malloc": 0,
    "child": 0,
    "record_packing": 0,
    "receiver": 1,
    "store": 1,
    "oracle": 2,
    "api": 3,
    "server": 4,
    "cli": 5,
    "__main__": 5,
}

# Known exceptions, left out of both checks (none today).
KNOWN_UPWARD: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = {f"{target}.{alias.name}" for alias in node.names}
            submodules = names & known
            # ``from . import x`` of a submodule x depends on x, not on the package's __init__
            found.update(submodules if submodules == names else {target, *submodules})
    return {module for module in found if module in known and module != name}


def graph() -> dict[str, set[str]]:
    found = modules()
    edges = {name: imported(name, path, set(found)) for name, path in found.items()}
    for source, target in KNOWN_UPWARD:
        edges[f"{ROOT}.{source}"].discard(f"{ROOT}.{target}")
    return edges


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def test_every_module_sits_in_a_layer():
    assert [m for m in modules() if m != ROOT and layer(m) is None] == []


def test_imports_point_down_the_layers():
    upward = [
        f"{source} ({layer(source)}) imports {target} ({layer(target)})"
        for source, targets in graph().items()
        for target in targets
        if target != ROOT and layer(source) is not None and layer(target) > layer(source)
    ]
    assert upward == []


def test_no_import_circles():
    try:
        TopologicalSorter(graph()).prepare()
    except CycleError as error:
        pytest.fail(f"import circle: {' -> '.join(error.args[1])}")
