"""What docs/ARCHITECTURE.md says of the code, checked on the code: layering, no import cycles, a thin CLI that
loads neither torch nor datasets for --help, docstrings, and the files the page names."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["nft1000_io", "nft1000_dataset", "modeling", "evaluation", "nft1000"]  # bottom to top: imports only go down
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for layer in LAYERS for path in sorted((ROOT / layer).rglob("*.py"))}


def _imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules `name` imports anywhere in its file (inside functions too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imported(name, path, known) for name, path in known.items()}


def _layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def test_imports_only_go_down_the_layers(graph):
    upward = [(a, b) for a, deps in graph.items() for b in deps if _layer(b) > _layer(a)]
    assert not upward, f"imports that go up the layers: {upward}"


def test_no_module_imports_one_that_imports_it_back(graph):
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(graph[module]):
            if dep == module.rpartition(".")[0] or module.startswith(dep + "."):
                continue  # a package's __init__ re-exporting its own modules is not a cycle
            if state.get(dep) == 1:
                pytest.fail(f"import cycle: {' -> '.join([*path, module, dep])}")
            if not state.get(dep):
                visit(dep, [*path, module])
        state[module] = 2

    for module in sorted(graph):
        if not state.get(module):
            visit(module, [])


def test_installed_packages_use_no_testing_fixture():
    users = [
        str(path.relative_to(ROOT))
        for layer in LAYERS
        for path in (ROOT / layer).rglob("*.py")
        if re.search(r"^\s*(from|import)\s+nft1000_testing\b", path.read_text(), re.MULTILINE)
    ]
    assert not users


def test_every_module_starts_with_a_docstring():
    missing = [name for name, path in _modules().items() if not ast.get_docstring(ast.parse(path.read_text()))]
    assert not missing


WRITERS = ("write_text", "write_bytes", "atomic_write_text", "atomic_write_bytes", "savefig", "save", "dump")


def _file_writes(function: ast.FunctionDef) -> list[str]:
    """Calls in `function` that write a file: builtin open() or a writer method or function."""
    found = []
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else ""
            if name in ("open", *WRITERS) or (isinstance(func, ast.Attribute) and func.attr in WRITERS):
                found.append(ast.unparse(func))
    return found


def test_cli_run_functions_are_thin_and_write_no_file():
    tree = ast.parse((ROOT / "nft1000" / "cli.py").read_text())
    runs = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("_run_")]
    assert len(runs) > 10
    for run in runs:
        assert run.end_lineno - run.lineno + 1 <= 25, f"{run.name} is {run.end_lineno - run.lineno + 1} lines"
        assert not _file_writes(run), f"{run.name} writes a file itself: {_file_writes(run)}"


def test_cli_help_loads_neither_torch_nor_datasets():
    code = (
        "import sys\nfrom nft1000.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'datasets', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_every_file_the_architecture_page_names_exists():
    text = ARCHITECTURE.read_text()
    named = set(re.findall(r"`([\w/]+\.(?:py|vy))`", text)) | set(re.findall(r"`([\w/]+/)`", text))
    tree = {str(path.relative_to(ROOT)) for path in ROOT.rglob("*") if ".venv" not in path.parts}
    missing = [
        name
        for name in sorted(named)
        if not any(entry == name.rstrip("/") or entry.endswith("/" + name.rstrip("/")) for entry in tree)
    ]
    assert len(named) > 30 and not missing, missing
