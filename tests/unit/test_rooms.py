"""The rooms and rules of DESIGN.md: what each package may import, and no package importing itself in a circle."""

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
PACKAGES = ("ganc", "compression", "service", "workers")
# What the core may not bring in: the packages built on it, the training stack, and the command line's own.
NOT_IN_THE_CORE = ("compression", "service", "workers", "torch", "typer", "celery", "onnxruntime")


def modules() -> dict[str, Path]:
    """Every module of our packages by dotted name (a package is its __init__)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "python_backend" in parts:  # a file Triton's Python backend runs, not a module of ours
                continue
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of ours that `name` imports anywhere in its file (inside functions too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    # A package's parents are always imported before it: those edges make no circle.
    return {t for t in targets if t in known and not name.startswith(f"{t}.")}


def test_the_core_imports_none_of_the_packages_built_on_it_in_a_fresh_interpreter():
    core = [name for name in modules() if name.startswith("ganc") and not name.startswith("ganc.cli")]
    probe = f"import json, sys; import {', '.join(core)}; print(json.dumps([m.split('.')[0] for m in sys.modules]))"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert not set(json.loads(loaded.stdout)) & set(NOT_IN_THE_CORE)


def test_only_the_command_line_reaches_from_the_core_into_other_packages_even_lazily():
    known = modules()
    for name, path in known.items():
        if name.startswith("ganc") and not name.startswith("ganc.cli"):
            outside = {t for t in imported(name, path, known) if not t.startswith("ganc")}
            assert not outside, f"{name} imports {outside}"


def test_no_module_imports_itself_through_a_circle():
    known = modules()
    graph = {name: imported(name, path, known) for name, path in known.items()}
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            raise AssertionError("import circle: " + " -> ".join([*trail[trail.index(name) :], name]))
        if name in done:
            return
        for target in graph[name]:
            visit(target, [*trail, name])
        done.add(name)

    for name in graph:
        visit(name, [])
