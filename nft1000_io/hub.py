"""The Hub: whether a name is a local path or a repo id, and uploading a folder to a repo (resumable)."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import HfApi
from huggingface_hub.errors import OfflineModeIsEnabled


def looks_local(name: str) -> bool:
    """True where `name` can only mean a local path, not a Hub repo id: it exists, is absolute, starts with
    ``.`` or ``~``, or lies under a folder that exists here (a typo in a folder name, not a repo)."""
    path = Path(name).expanduser()
    return (
        path.exists()
        or path.is_absolute()
        or name.startswith((".", "~"))
        or (path.parent != Path(".") and path.parent.is_dir())
    )


def portable_name(name: str) -> str:
    """`name` as a record that holds from any folder: a local path made absolute, a Hub repo id as it is."""
    return str(Path(name).expanduser().resolve()) if looks_local(name) else name


def upload_folder_to_hub(
    folder: str | Path,
    repo_id: str,
    *,
    repo_type: str,
    ignore_patterns: list[str],
    commit_message: str,
    private: bool = False,
    token: str | None = None,
    revision: str | None = None,
) -> str:
    """Create the repo if needed and upload `folder` (resumable: rerun after an interruption); returns its URL.

    `upload_folder` of huggingface_hub 2 commits in batches and skips files already uploaded.
    """
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        api.upload_folder(
            repo_id=repo_id,
            repo_type=repo_type,
            folder_path=folder,
            revision=revision,
            ignore_patterns=ignore_patterns,
            commit_message=commit_message,
        )
    except OfflineModeIsEnabled as err:
        raise RuntimeError(
            f"cannot push {folder} to {repo_id}: the Hub is unreachable in offline mode (HF_HUB_OFFLINE=1); "
            "the local folder itself works offline with from_pretrained / load_dataset"
        ) from err
    except Exception as err:  # network and HTTP errors of whichever client huggingface_hub uses
        raise RuntimeError(
            f"cannot push {folder} to {repo_id}: {type(err).__name__}: {err}; rerun the same command to resume"
        ) from err
    return str(url)
