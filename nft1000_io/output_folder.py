"""Output folders that a command may write into: empty, new, or its own earlier output.

A typo in ``--out`` must not scatter shards, libraries or checkpoints among someone's files. Each command names
what its earlier output holds (file or folder names, glob patterns); a non-empty folder holding none of them is
refused unless the user asks to overwrite.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatch
from pathlib import Path


class OutputFolderError(ValueError):
    """The output folder is not empty and not an earlier output of the command."""


def claim_output_folder(folder: str | Path, own: Iterable[str], command: str, *, flag: str = "--overwrite") -> None:
    """Raise `OutputFolderError` when `folder` is a file, or a non-empty folder with no entry matching `own`
    (what `command` writes there); the message names `flag`, the way to write there anyway."""
    folder = Path(folder)
    if not folder.exists():
        return
    if not folder.is_dir():
        raise OutputFolderError(f"{folder} is a file, not a folder")
    names = [entry.name for entry in folder.iterdir()]
    patterns = list(own)
    if not names or any(fnmatch(name, pattern) for name in names for pattern in patterns):
        return
    shown = ", ".join(sorted(names)[:5]) + (", ..." if len(names) > 5 else "")
    raise OutputFolderError(
        f"{folder} is not empty ({shown}) and is not the output of an earlier {command} (none of "
        f"{', '.join(patterns)}); choose a new or empty folder, or pass {flag} to write into it anyway"
    )
