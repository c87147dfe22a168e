"""The package layout holds: dependencies point one way and no import cycle exists, also none
hidden in a function body (see docs/ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "losscli"

#: Higher layers may import lower ones, never the reverse; packages of one rank are independent.
LAYERS = {
    "losscli.__main__": 7,  # `python -m losscli`
    "losscli.cli": 6,
    "losscli.report": 5,
    "losscli.gates": 4,
    "losscli.engine": 3,
    "losscli.losses": 3,  # the public Python API: a façade over the catalogue
    "losscli.catalogue": 2,
    "losscli.io": 1,
    "losscli.stats": 1,
    "losscli.errors": 0,
    "losscli.defaults": 0,
    "losscli": 0,  # the package itself (__version__)
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str:
    """The module a dotted import name lands in (``pkg.mod.attr`` → ``pkg.mod``)."""
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _imports(path: Path, *, type_only: bool) -> set[str]:
    """Every losscli module ``path`` imports: at module level and inside functions, plus
    modules bound with ``module_on_first_use("...")``. Imports under ``if TYPE_CHECKING:`` are
    included only with ``type_only``."""
    found: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
                for child in node.body if type_only else ():
                    self.visit(child)
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            found.update(_owner(a.name) for a in node.names if a.name.startswith("losscli"))

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.module and node.module.startswith("losscli"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    found.add(full if full in MODULES else _owner(node.module))

        def visit_Call(self, node: ast.Call) -> None:
            func = node.func
            if (
                isinstance(func, ast.Name)
                and func.id == "module_on_first_use"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and str(node.args[0].value).startswith("losscli")
            ):
                found.add(_owner(str(node.args[0].value)))
            self.generic_visit(node)

    Visitor().visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _layer(module: str) -> tuple[str, int]:
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return prefix, LAYERS[prefix]
    raise AssertionError(f"{module} belongs to no layer: add its package to LAYERS")


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        _layer(module)


def test_imports_point_down_the_layers() -> None:
    upward = []
    for module, path in MODULES.items():
        package, rank = _layer(module)
        for target in _imports(path, type_only=True):
            target_package, target_rank = _layer(target)
            if target_package == package or target == "losscli":
                continue
            if target_rank >= rank:
                upward.append(f"{module} → {target}")
    assert not upward, "imports against the layering:\n" + "\n".join(sorted(upward))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _graph() -> dict[str, set[str]]:
    return {m: _imports(p, type_only=False) - {m} for m, p in MODULES.items()}


def test_no_import_cycles_even_inside_functions() -> None:
    assert _cycles(_graph()) == []


def test_cycle_detector_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("module", ["losscli.catalogue.spec", "losscli.cli.app"])
def test_catalogue_and_cli_import_without_numpy(module: str) -> None:
    # `losscli --help` reads the catalogue: NumPy must load at the first kernel call, not before
    import subprocess
    import sys

    code = f"import sys, {module}; print('numpy' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"


#: The third-party packages a small local run may load; everything else it imports is the
#: standard library or losscli itself. Heavier or remote-only packages must stay out.
TINY_RUN_PACKAGES = {"click", "cloudpickle", "numpy", "pyarrow"}
NEVER_ON_A_LOCAL_RUN = (
    "pandas",
    "rich",
    "dask",
    "distributed",
    "fsspec",
    "matplotlib",
    "PIL",
    "scipy",
    "pyarrow.fs",
    "pyarrow.parquet",
    "pyarrow.dataset",
    "ssl",
)


@pytest.mark.parametrize(
    ("suffix", "extra"),
    [(".csv", []), (".parquet", []), (".csv", ["-g", "seg"]), (".parquet", ["-g", "n"])],
)
def test_a_tiny_run_imports_only_what_it_needs(
    tmp_path: Path, suffix: str, extra: list[str]
) -> None:
    import subprocess
    import sys

    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pa.table({"pred": [1.0, 3.0], "target": [2.0, 5.0], "seg": ["a", "10"], "n": [7, 3]})
    path = tmp_path / f"tiny{suffix}"
    if suffix == ".csv":
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    code = (
        "import sys; from losscli.cli.app import main\n"
        f"try:\n    main(['mse', {str(path)!r}, '--format', 'json', *{extra!r}])\n"
        "except SystemExit:\n    pass\n"
        "print('MODULES', ' '.join(sorted(sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(proc.stdout.rpartition("MODULES ")[2].split())
    assert '"value": 2.5' in proc.stdout
    third_party = {
        name.split(".")[0]
        for name in loaded
        if name.split(".")[0] not in sys.stdlib_module_names
        and not name.startswith(("losscli", "_", "cython_runtime", "__main__"))
    }
    assert third_party <= TINY_RUN_PACKAGES, third_party - TINY_RUN_PACKAGES
    assert not [m for m in NEVER_ON_A_LOCAL_RUN if m in loaded]
    if extra == ["-g", "n"]:  # integer keys: no hashing, no pyarrow.compute (~50 ms)
        assert "pyarrow.compute" not in loaded
