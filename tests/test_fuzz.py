"""The fuzzer over the reader (`nft1000_testing.fuzz`): a short budget of hypothesis mutations of real token
files through the scan, the rows and the media decoder, in its own process under an address-space limit. No
exception escapes, read = kept + skipped, and each token stays within its time and memory bounds. A longer
budget: ``python benchmarks/fuzz_reader.py --examples 3000``."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import pytest

from nft1000_testing.fuzz import SEEDS

EXAMPLES = int(os.environ.get("NFT1000_FUZZ_EXAMPLES", "150"))
ADDRESS_SPACE = 8 * 2**30  # torch, pyarrow and datasets map about 3 GiB; a bomb that got through takes more


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


@pytest.mark.slow
def test_mutated_token_files_never_break_the_build_and_stay_bounded(tmp_path):
    code = f"import json; from nft1000_testing.fuzz import run_fuzz; print(json.dumps(run_fuzz({EXAMPLES})))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=_limited,
                            cwd=os.getcwd(), env={**os.environ, "PYTHONPATH": os.getcwd()})  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert sum(summary["outcomes"].values()) == EXAMPLES
    kinds = {outcome.split(": ")[0] for outcome in summary["outcomes"]}
    assert kinds == set(SEEDS)  # every seed was mutated
    kept = {outcome for outcome in summary["outcomes"] if outcome.endswith(": kept")}
    assert kept and set(summary["outcomes"]) - kept  # some mutations still read, some are refused: both paths ran
