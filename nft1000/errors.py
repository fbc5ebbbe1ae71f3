"""How the command line and the training scripts end on a user's mistake: one line that names the problem and
the fix, exit status 1, no traceback (a bug still shows its traceback)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from nft1000_io.optional import MissingExtra
from nft1000_io.text import echo

USER_ERRORS = (ValueError, RuntimeError, OSError, MissingExtra)  # OSError: missing files, permissions, network


def explain(err: BaseException) -> str:
    """The error's message, with the hint a connection error may need: a local path that is not there is taken
    for a Hub repo id by the libraries, and then fails as a connection."""
    if isinstance(err, ConnectionError):
        return (
            f"{err}; if you meant a local folder, it is not there (relative paths start at {os.getcwd()}); a Hub "
            "repo needs the network (without HF_HUB_OFFLINE)"
        )
    return str(err)


def run_command(run: Callable[[], object], prog: str) -> int:
    """Call `run`; a user's mistake (`USER_ERRORS`) is printed as ``<prog>: error: ...`` and gives 1, else 0."""
    try:
        run()
    except USER_ERRORS as err:
        echo(f"{prog}: error: {explain(err)}", file=sys.stderr)
        return 1
    return 0
