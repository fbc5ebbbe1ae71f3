"""How the command line and the training scripts end on a user's mistake: one line that names the problem and
the fix, exit status 1, no traceback (a bug still shows its traceback)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from nft1000_dataset.optional import MissingExtra

USER_ERRORS = (ValueError, RuntimeError, OSError, MissingExtra)  # OSError: missing files, permissions, network


def explain(err: BaseException) -> str:
    """The error's message, with the hint a connection error needs: a path that is no local folder was taken for
    a Hub repo id."""
    if isinstance(err, ConnectionError):
        return (
            f"{err}; it is no local folder either (relative paths start at {os.getcwd()}): check the path, or go "
            "online (without HF_HUB_OFFLINE) for a Hub repo"
        )
    return str(err)


def run_command(run: Callable[[], object], prog: str) -> int:
    """Call `run`; a user's mistake (`USER_ERRORS`) is printed as ``<prog>: error: ...`` and gives 1, else 0."""
    try:
        run()
    except USER_ERRORS as err:
        print(f"{prog}: error: {explain(err)}", file=sys.stderr)
        return 1
    return 0
