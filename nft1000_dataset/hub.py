"""Publishing an exported NFT1000 folder to a Hub dataset repo (`nft1000 push`)."""

from __future__ import annotations

from pathlib import Path

from nft1000_io.atomic import atomic_write_bytes
from nft1000_io.hub import upload_folder_to_hub

from .card import rewrite_card
from .export import STATE_DIR

UPLOAD_IGNORE = [f"{STATE_DIR}/**", "**/.*.tmp"]


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
