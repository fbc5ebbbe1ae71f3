import argparse
import json
import subprocess
import sys

import pytest
from datasets import load_dataset

from nft1000.cli import main


def test_synth_then_build_with_dashed_and_underscored_flags(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "s"), "--collections", "3", "--tokens", "30", "--zip"]) == 0
    assert sorted(p.name for p in (tmp_path / "s" / "release").iterdir())[0].endswith(".zip")
    argv = ["build", "--raw", str(tmp_path / "s" / "release"), "--out", str(tmp_path / "d"), "--config", "mini"]
    argv += ["--min_tokens", "10", "--pairs-per-collection", "12", "--num_proc", "2", "--split-seed", "1"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| split (mini) |" in printed and 'load_dataset("' in printed
    mini = load_dataset(str(tmp_path / "d"), "mini")
    assert sum(len(split) for split in mini.values()) == 36
    report = json.loads((tmp_path / "d" / "build_report.json").read_text())
    assert set(report) == {"mini"}


def test_a_partition_file_naming_absent_collections_fails_with_a_message(tmp_path, capsys):
    main(["synth", "--out", str(tmp_path / "s"), "--collections", "3", "--tokens", "30"])
    names = sorted(p.name for p in (tmp_path / "s" / "release").iterdir() if p.is_dir())  # beside the settings file
    partition = tmp_path / "partition.json"
    partition.write_text(
        json.dumps({"training_list": [*names[:2], "Ghost Collection"], "validation_list": [], "test_list": names[2:]})
    )
    argv = ["build", "--raw", str(tmp_path / "s" / "release"), "--out", str(tmp_path / "d")]
    argv += ["--partition-file", str(partition), "--min-tokens", "10"]
    assert main(argv) == 1
    assert "Ghost Collection" in capsys.readouterr().err
    assert main([*argv, "--ignore-missing-collections"]) == 0
    full = load_dataset(str(tmp_path / "d"), "full")
    assert set(full["train"]["collection"]) == set(names[:2])
    assert set(full["test"]["collection"]) == set(names[2:])


def test_push_offline_is_a_clear_error(exported, capsys):
    out, _ = exported  # conftest sets HF_HUB_OFFLINE=1
    assert main(["push", str(out), "--repo-id", "someone/nft1000"]) == 1
    assert "offline" in capsys.readouterr().err


def test_push_refuses_a_folder_that_is_not_an_export(tmp_path, capsys):
    assert main(["push", str(tmp_path), "--repo_id", "someone/nft1000"]) == 1
    assert "nft1000 build" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--num-proc", "--num_proc"])
def test_both_spellings_parse(flag):
    from nft1000.cli import build_parser

    args = build_parser().parse_args(["build", "--raw", "r", "--out", "o", flag, "3"])
    assert args.num_proc == 3


@pytest.mark.slow
def test_components_and_masking_preview_commands(exported, tmp_path, capsys):
    import shutil

    from PIL import Image

    out, _ = exported
    copy = tmp_path / "export"
    shutil.copytree(out, copy)
    argv = ["components", "--dataset", str(copy), "--split", "validation", "--out", str(copy)]
    assert main([*argv, "--positives", "16", "--min_support", "6"]) == 0
    assert "| collection | tokens | components |" in capsys.readouterr().out
    report = json.loads((copy / "components_report.json").read_text())
    assert report and all(entry["components"] > 0 for entry in report.values())
    assert {p.stem for p in (copy / "component_sheets").glob("*.png")} == set(report)
    grid = tmp_path / "grid.png"
    argv = ["preview-masking", "--dataset", str(copy), "--config", "full", "--split", "validation"]
    assert main([*argv, "--components", str(copy), "--out", str(grid), "--num-samples", "4"]) == 0
    assert Image.open(grid).width > 0


def _subcommands() -> dict:
    from nft1000.cli import build_parser

    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_help_imports_no_torch_datasets_or_transformers():
    heavy = {"torch", "transformers", "datasets", "diffusers", "gradio", "web3"}
    for command in [[], *([name] for name in _subcommands())]:
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "nft1000.cli", *command, "--help"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
        assert not heavy & imported, (command, heavy & imported)
        assert "usage: nft1000" in result.stdout


def test_every_flag_has_a_help_string():
    missing = [
        f"{name} {action.option_strings[0]}"
        for name, parser in _subcommands().items()
        for action in parser._actions
        if action.option_strings and action.option_strings[0] != "-h" and not action.help
    ]
    assert missing == []


def _flags(parser) -> dict[str, set[str]]:
    """Each flag's destination and every spelling that reaches it."""
    spellings: dict[str, set[str]] = {}
    for action in parser._actions:
        spellings.setdefault(action.dest, set()).update(action.option_strings)
    return spellings


def test_the_hf_scripts_names_reach_the_same_flag_as_ours_in_every_command():
    """`--output_dir` / `--output-dir` / `--out`, `--dataset_name` / `--dataset`, `--model_name_or_path` /
    `--model` and, for a dataset a command reads, `--dataset_config_name` / `--config`: as the HF example scripts
    spell them, with ours kept as aliases."""
    for name, parser in _subcommands().items():
        flags = _flags(parser)
        for dest, hf in (("out", "output_dir"), ("output_dir", "output_dir"), ("dataset", "dataset_name"),
                         ("model", "model_name_or_path")):  # fmt: skip
            if dest in flags:
                assert {f"--{hf}", f"--{hf.replace('_', '-')}"} <= flags[dest], (name, dest, flags[dest])
        if "dataset" in flags and "config" in flags:
            assert "--dataset_config_name" in flags["config"], name


def test_help_shows_every_default_worth_showing():
    for name, parser in _subcommands().items():
        text = parser.format_help()
        for action in parser._actions:
            if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
                assert f"default: {action.default}" in " ".join(text.split()), (name, action.dest)
    assert "the configs to build: full, mini or all" in _subcommands()["build"].format_help()


def test_no_library_warning_comes_before_the_commands_own_words(clip_folder, tmp_path):
    argv = ["eval", "--model", str(clip_folder), "--dataset", str(tmp_path / "none"), "--output-dir",
            str(tmp_path / "e")]  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "nft1000.cli", *argv], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[0].startswith("nft1000 eval: error: "), result.stderr[:2000]


@pytest.mark.parametrize(
    ("command", "missing", "extra"),
    [
        (["search-app", "some-index"], "gradio", "app"),
        (["collect", "--contract", "0x0", "--rpc", "http://127.0.0.1:1", "--out", "o"], "web3", "collect"),
    ],
)
def test_a_missing_extra_names_the_extra_to_install(command, missing, extra, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, missing, None)  # importing it now fails as if it were not installed
    monkeypatch.delitem(sys.modules, "nft1000.search.app", raising=False)
    assert main(command) == 1
    assert f'pip install "nft1000[{extra}]"' in capsys.readouterr().err


# --- a user's mistakes: one line that names the problem and the fix, no traceback (issue 29) -------------------


def _one_line_error(capsys, argv: list[str], *expected: str) -> str:
    assert main(argv) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]  # a traceback would end in the exception's own line
    assert last.startswith(f"nft1000 {argv[0]}: error: ") and all(text in last for text in expected), last
    return last


def test_a_dataset_path_that_is_no_folder_is_one_line_naming_the_path(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["eval", "--model", "tiny", "--dataset", "my/export", "--output-dir", str(tmp_path / "e")]
    _one_line_error(capsys, argv, "nft1000 eval: error:", "'my/export'", "if you meant a local folder, it is not there",
                    f"relative paths start at {tmp_path}")  # fmt: skip


def test_a_typo_in_a_model_folder_names_the_folders_beside_it(capsys, clip_folder, exported, tmp_path):
    typo = clip_folder.parent / "clip-maskd"
    argv = ["eval", "--model", str(typo), "--dataset", str(exported[0]), "--split", "train", "--output-dir",
            str(tmp_path / "e")]  # fmt: skip
    err = _one_line_error(capsys, argv, f"{typo}: no such model folder", f"did you mean {clip_folder}")
    assert "--model tiny" not in err


def test_a_missing_component_library_names_the_dataset_and_the_folder(capsys, exported, tmp_path):
    argv = ["preview-masking", "--dataset", str(exported[0]), "--components", str(tmp_path / "lib"), "--out",
            str(tmp_path / "p.png")]  # fmt: skip
    _one_line_error(capsys, argv, f"--dataset {exported[0]} --out {tmp_path / 'lib'}")


def test_preview_masking_refuses_a_library_that_covers_none_of_the_rows(capsys, export_with_components, tmp_path):
    argv = ["preview-masking", "--dataset", str(export_with_components), "--config", "full", "--split", "test",
            "--components", str(export_with_components), "--out", str(tmp_path / "p.png")]  # fmt: skip
    _one_line_error(capsys, argv, "has no component for any of the")
    assert not (tmp_path / "p.png").exists()


def test_generate_with_a_clip_folder_as_lora_says_it_holds_no_lora(capsys, clip_folder, tmp_path):
    argv = ["generate", "--lora", str(clip_folder), "--traits", "Eyes=Blue", "--out", str(tmp_path / "g")]
    _one_line_error(capsys, argv, f"{clip_folder}: no LoRA weights")


def test_a_flag_typo_shows_the_usage_of_its_own_subcommand(capsys, tmp_path):
    with pytest.raises(SystemExit) as exited:
        main(["build", "--raw", str(tmp_path), "--out", str(tmp_path / "o"), "--pairs-per-colection", "5"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "usage: nft1000 build" in err and "unrecognized arguments: --pairs-per" in err


@pytest.mark.parametrize(("script", "required"), [("train_clip.py", []), ("train_lora.py", ["--collection", "X"])])
def test_a_training_script_flag_typo_is_its_usage_and_a_failed_start_leaves_no_folder(script, required, tmp_path):
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / script
    typo = subprocess.run([sys.executable, str(path), "--dataset_name", "x", "--output_dir", str(tmp_path / "a"),
                           *required, "--max_train_stepz", "3"], capture_output=True, text=True)  # fmt: skip
    assert typo.returncode == 2 and f"usage: {script}" in typo.stderr and "--max_train_stepz" in typo.stderr
    assert "Traceback" not in typo.stderr
    failed = subprocess.run([sys.executable, str(path), "--dataset_name", str(tmp_path / "nope"), "--output_dir",
                             str(tmp_path / "b"), *required], capture_output=True, text=True)  # fmt: skip
    assert failed.returncode == 1 and f"{script}: error:" in failed.stderr and "Traceback" not in failed.stderr
    assert not (tmp_path / "b").exists()


def _needs_faiss(tmp_path):
    from nft1000.search.index import NFTIndex

    NFTIndex.build_ann(None)


def _needs_matplotlib(tmp_path):
    from evaluation.cvi_report import plot_alpha_curve

    plot_alpha_curve({"alphas": [0.0], "jsd": {}, "best_alpha": {}}, tmp_path / "a.png")


def _needs_aiohttp(tmp_path):
    import importlib

    sys.modules.pop("nft1000_dataset.collect.fetch", None)
    importlib.import_module("nft1000_dataset.collect.fetch")


@pytest.mark.parametrize(
    ("module", "extra", "use"),
    [
        ("faiss", "search", _needs_faiss),
        ("matplotlib", "plots", _needs_matplotlib),
        ("aiohttp", "collect", _needs_aiohttp),
    ],
)
def test_a_missing_extra_names_what_to_install(module, extra, use, tmp_path, monkeypatch):
    """faiss, matplotlib and aiohttp serve one command each and are extras (issue 29): without them, the command
    that needs one says which extra brings it."""
    from nft1000_io.optional import MissingExtra

    for name in [m for m in sys.modules if m == module or m.startswith(f"{module}.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    monkeypatch.setitem(sys.modules, "nft1000_dataset.collect.fetch", sys.modules.get("nft1000_dataset.collect.fetch"))
    with pytest.raises(MissingExtra, match=rf'pip install "nft1000\[{extra}\]"'):
        use(tmp_path)
