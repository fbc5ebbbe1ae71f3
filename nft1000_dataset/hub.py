"""Publishing folders to the Hub: an exported NFT1000 as a dataset repo, a trained model as a model repo."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import HfApi
from huggingface_hub.errors import OfflineModeIsEnabled

from .atomic import atomic_write_bytes
from .card import rewrite_card
from .export import STATE_DIR

UPLOAD_IGNORE = [f"{STATE_DIR}/**", "**/.*.tmp"]


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


def push_release(
    folder: str | Path, repo_id: str, *, private: bool = False, token: str | None = None, revision: str | None = None
) -> str:
    """Upload an exported folder (card, report, Parquet shards) to the dataset repo `repo_id`; returns its URL.

    The card uploaded names the repo in its examples; the local card says so too once the upload succeeded, and is
    left as it was if it failed. The local resume state of the build is not uploaded.
    """
    folder = Path(folder)
    card = folder / "README.md"
    if not card.is_file() or not (folder / "data").is_dir():
        raise FileNotFoundError(f"{folder}: not an exported NFT1000 folder (run `nft1000 build` first)")
    local_card = card.read_bytes()
    if (folder / "build_report.json").is_file():
        rewrite_card(folder, repo_id)  # the card's examples name the repo it goes to
    try:
        return upload_folder_to_hub(
            folder,
            repo_id,
            repo_type="dataset",
            ignore_patterns=UPLOAD_IGNORE,
            commit_message="Upload NFT1000 export",
            private=private,
            token=token,
            revision=revision,
        )
    except BaseException:
        atomic_write_bytes(card, local_card)
        raise
