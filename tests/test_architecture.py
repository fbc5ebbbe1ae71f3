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


# modeling's rooms, bottom to top: what separation and masking share, separation, masking (it reads separation's
# library); the models and their training pieces stand apart from both
MODELING_ROOMS = {"modeling.byte_cache": 0, "modeling.images": 0, "modeling.separation": 1, "modeling.masking": 2}


def _room(module: str) -> tuple[str, int] | None:
    """(room, height) of a module inside `modeling`, or None for one outside it or the package itself."""
    for room, height in MODELING_ROOMS.items():
        if module == room or module.startswith(room + "."):
            return room, height
    return ("modeling.models", -1) if module.startswith("modeling.models") else None


def test_modeling_is_three_rooms_whose_imports_only_go_down(graph):
    wrong = []
    for module, deps in graph.items():
        here = _room(module)
        for dep in deps:
            there = _room(dep)
            if here is None or there is None or there[0] == here[0]:
                continue
            if -1 in (here[1], there[1]) or there[1] > here[1]:  # models stand apart; nothing imports upward
                wrong.append((module, dep))
    assert not wrong, wrong
    rooms = {_room(name)[0] for name in graph if _room(name)}
    assert rooms == {*MODELING_ROOMS, "modeling.models"}
    assert not [p.name for p in (ROOT / "modeling").glob("*.py") if f"modeling.{p.stem}" not in MODELING_ROOMS
                and p.name != "__init__.py"]  # fmt: skip


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


@pytest.mark.parametrize("page", [ARCHITECTURE, ROOT / "README.md"])
def test_every_file_and_module_a_page_names_exists(page):
    text = page.read_text()
    named = set(re.findall(r"`([\w/]+\.(?:py|vy))`", text))
    if page == ARCHITECTURE:  # the README's folders are those of a release and an export, not of the repository
        named |= set(re.findall(r"`([\w/]+/)`", text))
    named -= {"train_text_to_image_lora.py", "run_clip.py"}  # the HF example scripts the README compares with
    tree = {str(path.relative_to(ROOT)) for path in ROOT.rglob("*") if ".venv" not in path.parts}
    missing = [
        name
        for name in sorted(named)
        if not any(entry == name.rstrip("/") or entry.endswith("/" + name.rstrip("/")) for entry in tree)
    ]
    modules = set(re.findall(r"\b((?:modeling|evaluation|nft1000_dataset|nft1000_io)(?:\.\w+)+)", text))
    known = set(_modules())
    unknown = [name for name in sorted(modules) if not any(name == m or name.startswith(m + ".") for m in known)]
    assert len(named) > 10 and not missing and not unknown, (missing, unknown)


PROJECT = tuple(LAYERS)


def _project_calls(function: ast.FunctionDef) -> set[str]:
    """The project functions and classes `function` calls, module-qualified (``module.name`` or
    ``module.Class.method``), through the names it imports from the project."""
    imported = {
        alias.asname or alias.name: node.module
        for node in ast.walk(function)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PROJECT
        for alias in node.names
    }
    calls = set()
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name):
            name = func.id
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            name = f"{func.value.id}.{func.attr}"
        else:
            continue
        if name.split(".")[0] in imported:
            calls.add(f"{imported[name.split('.')[0]]}.{name}")
    return calls


def _page_table(heading: str) -> list[list[str]]:
    """The rows of the first table under `heading` on the architecture page, as cells."""
    section = ARCHITECTURE.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][2:]  # after the header and rule
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def _reached(function: ast.FunctionDef, helpers: dict[str, ast.FunctionDef], seen: frozenset = frozenset()) -> set:
    """What `function` calls in the project, and what the command line's own helpers it calls do (`_embeddings`)."""
    calls = _project_calls(function)
    for node in ast.walk(function):
        called = node.func.id if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else None
        if called in helpers and called not in seen:
            calls |= _reached(helpers[called], helpers, seen | {called})
    return calls


def test_the_page_says_what_each_command_calls():
    tree = ast.parse((ROOT / "nft1000" / "cli.py").read_text())
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    helpers = {name: node for name, node in functions.items() if not name.startswith(("_run_", "_add_"))}
    runs = {
        name.removeprefix("_run_").replace("_", "-"): _reached(node, helpers)
        for name, node in functions.items()
        if name.startswith("_run_")
    }
    page = {
        command.strip("`"): set(re.findall(r"`([\w.]+)`", calls))
        for command, calls in _page_table("What each command calls")
    }
    assert page == runs


FILE_WRITERS = ("write_text", "write_bytes", "savefig", "save", "ParquetWriter", "save_file", "write_index")


def _written_without_atomic(path: Path) -> list[str]:
    """File writes in a module that do not go through `nft1000_io.atomic`: write_text/write_bytes, open() for
    writing or appending, a Pillow or Matplotlib save to a path, a Parquet writer; a write into an in-memory
    buffer (a name ``buffer`` or ``sink``) or into the argument of an atomic write is no file write."""
    tree = ast.parse(path.read_text())
    inside_atomic = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1].startswith("atomic_write")
        for inner in ast.walk(node)
    }
    found = []
    for node in ast.walk(tree):
        if (
            not isinstance(node, ast.Call)
            or id(node) in inside_atomic
            or not isinstance(node.func, ast.Attribute | ast.Name)
        ):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
        first = node.args[0] if node.args else None
        into_buffer = isinstance(first, ast.Name) and first.id in ("buffer", "sink")
        if name == "open":
            modes = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            modes += [k.value.value for k in node.keywords if k.arg == "mode" and isinstance(k.value, ast.Constant)]
            writes = any(set(mode) & set("wax") for mode in modes) and not into_buffer
        else:
            writes = name in (
                "write_text",
                "write_bytes",
                "savefig",
                "save",
                "ParquetWriter",
                "save_file",
                "write_index",
            )
            writes = writes and not into_buffer and not (name == "save" and isinstance(node.func, ast.Name))
        if writes:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_files_are_written_through_atomic_except_where_the_page_says_why():
    writers = {}
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py"):
            if path.relative_to(ROOT) != Path("nft1000_io/atomic.py") and (found := _written_without_atomic(path)):
                writers[str(path.relative_to(ROOT))] = found
    section = ARCHITECTURE.read_text().split("### Written without `atomic.py`, and why\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^- `([\w/]+\.py)`:", section, re.MULTILINE))
    assert set(writers) == listed, writers


def _ast_default(path: Path, owner: str, parameter: str) -> ast.expr:
    """The default expression of `parameter` in `owner` (a dataclass field, a function's or ``__init__``'s
    keyword) in the module at `path`."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ClassDef | ast.FunctionDef) and node.name == owner:
            for inner in ast.walk(node):
                if isinstance(inner, ast.AnnAssign) and getattr(inner.target, "id", None) == parameter:
                    value = inner.value
                    if isinstance(value, ast.Call) and ast.unparse(value.func) == "field":
                        value = next(k.value for k in value.keywords if k.arg == "default")
                    return value
                if isinstance(inner, ast.arguments):
                    named = inner.args[len(inner.args) - len(inner.defaults) :] + inner.kwonlyargs
                    defaults = list(inner.defaults) + list(inner.kw_defaults)
                    for arg, default in zip(named, defaults, strict=True):
                        if arg.arg == parameter:
                            return default
    raise AssertionError(f"no {owner}.{parameter} in {path}")


def _literal_flag_defaults() -> dict[str, set[str]]:
    """Per command (``_add_<command>`` in cli.py), the flags whose default is written there as a literal."""
    found: dict[str, set[str]] = {}
    for node in ast.parse((ROOT / "nft1000" / "cli.py").read_text()).body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("_add_"):
            command = found.setdefault(node.name.removeprefix("_add_").replace("_", "-"), set())
            for call in ast.walk(node):
                if isinstance(call, ast.Call) and ast.unparse(call.func) == "_flag" and len(call.args) > 1:
                    default = next((k.value for k in call.keywords if k.arg == "default"), None)
                    if isinstance(default, ast.Constant) and default.value is not None:
                        command.add(call.args[1].value)
    return found


READERS = [  # (file, class or function, parameter): each reads its default from where the page says it lives
    ("modeling/masking/masker.py", "DynamicMasker", "mask_prob"),
    ("modeling/masking/collator.py", "__init__", "mask_prob"),
    ("modeling/masking/collator.py", "__init__", "mask_policy"),
    ("nft1000/train_clip.py", "DataArguments", "mask_prob"),
    ("nft1000/train_clip.py", "DataArguments", "mask_policy"),
]


@pytest.mark.parametrize(("file", "owner", "parameter"), READERS)
def test_a_default_is_read_from_where_it_lives_not_written_again(file, owner, parameter):
    default = _ast_default(ROOT / file, owner, parameter)
    assert not isinstance(default, ast.Constant), f"{file}: {owner}.{parameter} repeats {ast.unparse(default)}"


def test_the_command_line_s_defaults_are_their_owners():
    from dataclasses import fields

    from evaluation.cvi.cvi_index import CviOptions
    from modeling.masking.policy import DEFAULT_MASK_PROB
    from modeling.separation.separate import SeparationParams
    from nft1000.cli import build_parser
    from nft1000.generate import GenerationRequest
    from nft1000.pretrain import PretrainOptions
    from nft1000.search.piracy import PiracyOptions

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices

    def defaults(command: str) -> dict:
        return {action.dest: action.default for action in commands[command]._actions}

    literal = _literal_flag_defaults()
    for command, owner in (("piracy", PiracyOptions()), ("generate", GenerationRequest()), ("cvi", CviOptions()),
                           ("components", SeparationParams()), ("pretrain", PretrainOptions())):  # fmt: skip
        flags = defaults(command)
        shared = [f.name for f in fields(owner) if f.name in flags]
        assert shared and all(flags[name] == getattr(owner, name) for name in shared), command
        assert not literal[command] & set(shared), f"nft1000 {command} repeats {literal[command] & set(shared)}"
    assert defaults("preview-masking")["mask_prob"] == DEFAULT_MASK_PROB
    compute = next(node for node in ast.walk(ast.parse((ROOT / "evaluation" / "cvi" / "cvi.py").read_text()))
                   if isinstance(node, ast.FunctionDef) and node.name == "_compute")  # fmt: skip
    keywords = [arg.arg for arg in compute.args.args[-len(compute.args.defaults) :]]
    repeated = {f.name for f in fields(CviOptions)} & set(keywords)  # the module loads without us: it repeats them
    assert repeated == {"alpha", "normalize", "include_diagonal", "similarity", "temperature"}
    for name in repeated:
        standalone = _ast_default(ROOT / "evaluation" / "cvi" / "cvi.py", "_compute", name)
        assert ast.literal_eval(standalone) == getattr(CviOptions(), name), name
    table = {row[0] for row in _page_table("Where defaults live")}
    assert {"masking probability p and policy", "piracy thresholds", "generation settings"} <= table


def test_the_installed_packages_read_in_functions_of_at_most_80_lines():
    long = {}
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 80:
                    long[f"{path.relative_to(ROOT)}:{node.name}"] = node.end_lineno - node.lineno + 1
    assert not long, long


@pytest.mark.parametrize("script", ["nft1000/train_clip.py", "nft1000/train_lora.py"])
def test_the_training_scripts_read_as_the_numbered_steps_of_train(script):
    tree = ast.parse((ROOT / script).read_text())
    assert "train" in {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def test_the_command_line_prints_only_through_echo():
    """Whatever `nft1000` prints may carry a dataset's text: it goes through `nft1000_io.text.echo`, which escapes
    what could control a terminal (a bare print would let a collection name's ESC sequence through)."""
    for path in (ROOT / "nft1000" / "cli.py", ROOT / "nft1000" / "errors.py"):
        calls = [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)]
        printed = [node.lineno for node in calls if isinstance(node.func, ast.Name) and node.func.id == "print"]
        assert printed == [], (path.name, printed)


def test_every_training_run_is_driven_through_train_clip_run():
    """One way to drive a run: the script's `main` only parses and calls `run(TrainingConfig)`; `nft1000 pretrain`,
    the demo and the masking ablation build a `TrainingConfig` and call `run`, never the flags of `main`."""
    tree = ast.parse((ROOT / "nft1000" / "train_clip.py").read_text())
    main = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main")
    assert len(main.body) == 2 and ast.unparse(main.body[1]) == "return run(TrainingConfig.from_flags(argv))"
    for path in ("nft1000/pretrain.py", "nft1000/demo.py", "benchmarks/masking_ablation.py"):
        imported = {
            alias.name
            for node in ast.walk(ast.parse((ROOT / path).read_text()))
            if isinstance(node, ast.ImportFrom) and node.module == "nft1000.train_clip"
            for alias in node.names
        }
        assert "run" in imported and "main" not in imported, (path, imported)


def test_search_ranks_through_the_one_blockwise_top_k():
    """Retrieval and search share `evaluation.topk.top_k`: the index sorts no score itself."""
    text = (ROOT / "nft1000" / "search" / "index.py").read_text()
    assert "top_k(" in text and not re.search(r"\b(argsort|argpartition|sort)\(", text)
