"""The architecture holds: layers by folder, one direction of dependency, no import cycle, a wheel of the product.

The layer and forbidden-import contracts live in pyproject.toml (``[tool.importlinter]``) and run as ``lint-imports``
in the test command; this module checks them from pytest too, looks for import cycles anywhere in the package (every
import counts, those inside functions too), and builds the wheel to list what it ships.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & modules) for m in modules}
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            if i < len(edges[node]):
                work.append((node, i + 1))
                nxt = edges[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_in_the_package() -> None:
    graph = grimp.build_graph("jwks_tool", exclude_type_checking_imports=True)
    modules = {m for m in graph.modules if m != "jwks_tool"}
    assert _cycles(graph, modules) == []


def test_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("p.a", "p.b", "p.c"):
        graph.add_module(name)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.a")
    graph.add_import(importer="p.b", imported="p.c")
    assert _cycles(graph, {"p.a", "p.b", "p.c"}) == [["p.a", "p.b"]]


def test_layer_contracts_hold() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.integration
def test_wheel_ships_the_product_only(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("jwks_tool-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "jwks_tool/cli/main.py" in names
    assert any(n.startswith("jwks_tool/documents/templates/") and n.endswith(".j2") for n in names)
    assert "jwks_tool/testing/store_conformance.py" in names
    schemas = sorted(n.removeprefix("jwks_tool/schemas/") for n in names if n.startswith("jwks_tool/schemas/"))
    assert schemas == sorted(path.name for path in (ROOT / "jwks_tool" / "schemas").glob("*.json"))
    assert "error.json" in schemas  # the --json contract ships with the product (README "JSON output")
    shipped = [n for n in names if not n.startswith(("jwks_tool/", "jwks_tool-"))]
    assert shipped == []
    servers = [n for n in names if "server" in n or "_https" in n or n.startswith("tests/")]
    assert servers == []
    for name in names:
        if name.endswith(".py"):
            text = zipfile.ZipFile(wheel).read(name).decode()
            assert "JWKS_TOOL_TEST_CRASH_AT" not in text, name
