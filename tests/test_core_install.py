"""A core install (``pip install nft1000``, no extras) runs every command that needs no extra: the command line is
run here with every extra's modules hidden (as absent as on a core install), and `.ci/core_check` does the same in
a venv with no extra installed. A missing extra is named when its command runs, never when the parser is built."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from nft1000.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
# the module each extra's distribution installs
MODULES = {"av": "av", "gradio": "gradio", "web3": "web3", "aiohttp": "aiohttp", "pyspng": "pyspng",
           "faiss-cpu": "faiss", "matplotlib": "matplotlib", "evaluate": "evaluate"}  # fmt: skip
USER_EXTRAS = ("video", "app", "collect", "fast", "search", "plots", "metric")


def _extra_distributions() -> set[str]:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {requirement.split(">")[0].split("=")[0].split("[")[0] for e in USER_EXTRAS for requirement in extras[e]}
    assert set(extras) - {"all", "dev"} == set(USER_EXTRAS), "a new extra: add it here and its modules to MODULES"
    return names


def run_core(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`nft1000 ARGV` with every extra's modules hidden."""
    hidden = sorted(MODULES[name] for name in _extra_distributions())
    code = (f"import sys\nfor m in {hidden!r}: sys.modules[m] = None\n"
            "from nft1000.cli import main\nsys.exit(main(sys.argv[1:]))")  # fmt: skip
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=cwd)


def test_every_extra_is_known():
    assert _extra_distributions() <= set(MODULES)


@pytest.mark.parametrize("command", [[], *([name] for name in build_parser()._subparsers._group_actions[0].choices)])
def test_every_help_builds_without_an_extra(command):
    result = run_core(*command, "--help")
    assert result.returncode == 0 and "usage: nft1000" in result.stdout, result.stderr[-2000:]


@pytest.mark.slow
def test_synth_build_and_components_run_without_an_extra(tmp_path):
    assert run_core("synth", "--out", str(tmp_path / "s"), "--collections", "2", "--tokens", "30").returncode == 0
    build = run_core("build", "--raw", str(tmp_path / "s" / "release"), "--out", str(tmp_path / "d"),
                     "--config", "full", "--min-tokens", "10", "--split-ratios", "1", "0", "0")  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    components = run_core("components", "--dataset", str(tmp_path / "d"), "--config", "full", "--out",
                          str(tmp_path / "d"))  # fmt: skip
    assert components.returncode == 0, components.stderr[-2000:]
    assert (tmp_path / "d" / "components_report.json").is_file()


def test_a_command_that_needs_an_extra_names_it_when_it_runs(tmp_path):
    result = run_core("collect", "--contract", "0x" + "0" * 40, "--rpc", "http://127.0.0.1:9", "--out", str(tmp_path))
    assert result.returncode == 1 and 'pip install "nft1000[collect]"' in result.stderr.strip().splitlines()[-1]
