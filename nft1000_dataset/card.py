"""The dataset card (README.md) of an exported NFT1000: YAML configs so `load_dataset` needs no code."""

from __future__ import annotations

import json
from pathlib import Path

from datasets import DatasetInfo, SplitDict, SplitInfo
from datasets.info import DatasetInfosDict
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

from nft1000_io.atomic import atomic_write_text

from .examples import FEATURES
from .report import BuildReport

HOMEPAGE = "https://github.com/ShuxunoO/NFT-Net"
PAPER = "https://arxiv.org/abs/2402.16872"
LICENSE = "other"
LICENSE_NAME = "nft1000"  # the images and metadata keep their creators' terms; see each collection's
LICENSE_LINK = HOMEPAGE
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"))  # fmt: skip
DESCRIPTION = (
    "NFT1000: image-text pairs from the top 1,000 PFP NFT collections on Ethereum (ACM MM 2024). Each row is "
    "one token: its image standardised to a 512-px-wide RGB PNG, a caption and a prompt built from its "
    "ERC-721 attributes, and the release's own caption and prompt. Splits are by collection (80:5:15 or the "
    "official partition), never by token."
)
DOI = "10.48550/arXiv.2402.16872"  # the paper's DOI (arXiv's, which DataCite registers for every arXiv paper)
CITATION = """@inproceedings{nft1000,
  title     = {NFT1000: A Cross-Modal Dataset For Non-Fungible Token Retrieval},
  author    = {Wang, Shuxun and Lei, Yunfei and Zhang, Ziqi and Liu, Wei and Liu, Haowei and Yang, Li and
               Li, Wenjuan and Li, Bing and Hu, Weiming},
  booktitle = {Proceedings of the 32nd ACM International Conference on Multimedia (MM '24)},
  year      = {2024},
  doi       = {10.48550/arXiv.2402.16872},
  url       = {https://github.com/ShuxunoO/NFT-Net}
}"""
SYNTHETIC_FIELD = "nft1000_synthetic"  # the card's YAML field naming the generator's settings of a synthetic export


def synthetic_description(origin: dict) -> str:
    """What a synthetic export is, in the card, with the generator's settings."""
    settings = ", ".join(f"{key} {value}" for key, value in sorted(origin.items()) if key != "generator")
    return (
        "A synthetic NFT1000-like release, not real NFTs: layered PFP collections drawn by nft1000's offline "
        f"generator (`nft1000 synth`: {settings}), in the release layout of NFT1000 (ACM MM 2024) and built the "
        "same way. Each row is one token: its image standardised to a 512-px-wide RGB PNG, a caption and a prompt "
        "built from its attributes. Splits are by collection, never by token. For tests, demos and measurements."
    )


def size_category(rows: int) -> str:
    return next((label for limit, label in SIZE_CATEGORIES if rows < limit), "n>100M")


def config_info(config: str, sizes: dict[str, tuple[int, ...]], features) -> DatasetInfo:
    """A config's ``dataset_info``: per split (rows, Parquet bytes, Arrow bytes), or (rows, Parquet bytes) from an
    older build, as `datasets` counts them (``num_bytes`` in Arrow, ``download_size`` the files)."""
    splits = SplitDict()
    for split, (count, parquet, *arrow) in sizes.items():
        splits.add(SplitInfo(name=split, num_examples=count, num_bytes=arrow[0] if arrow else parquet))
    return DatasetInfo(
        config_name=config,
        features=features.copy(),
        splits=splits,
        download_size=sum(size[1] for size in sizes.values()),
        dataset_size=sum(split.num_bytes for split in splits.values()),
    )


def _card_data(name: str, rows: int, synthetic: dict | None) -> DatasetCardData:
    """The card's Hub metadata, before its configs and infos."""
    return DatasetCardData(
        pretty_name=f"{name} (synthetic)" if synthetic and "synthetic" not in name else name,
        license=LICENSE,
        license_name=LICENSE_NAME,
        license_link=LICENSE_LINK,
        language=["en"],
        size_categories=[size_category(rows)],
        task_categories=["image-to-text", "text-to-image", "zero-shot-image-classification"],
        tags=["nft", "pfp", "clip", "retrieval", "arxiv:2402.16872", *(["synthetic"] if synthetic else [])],
        **({SYNTHETIC_FIELD: synthetic} if synthetic else {}),
    )


def card_text(
    name: str,
    reports: dict[str, BuildReport],
    split_sizes: dict[str, dict[str, tuple[int, ...]]],
    features,
    repo_id: str | None = None,
    synthetic: dict | None = None,
) -> str:
    """README.md with YAML front matter; `split_sizes[config][split]` is (rows, Parquet bytes, Arrow bytes) (or,
    from an older build, (rows, Parquet bytes)). The usage examples name `repo_id` (the Hub repo it is pushed
    to), else a placeholder for the folder or repo. A `synthetic` export (the generator's settings) says so."""
    rows = max((sum(size[0] for size in sizes.values()) for sizes in split_sizes.values()), default=0)
    data = _card_data(name, rows, synthetic)
    default = "full" if "full" in reports else sorted(reports)[0]
    configs = {}
    for config, sizes in split_sizes.items():
        files = [{"split": split, "path": f"data/{config}/{split}-*.parquet"} for split in sizes]
        configs[config] = {"data_files": files, **({"default": True} if config == default else {})}
    MetadataConfigs(configs).to_dataset_card_data(data)
    infos = {config: config_info(config, sizes, features) for config, sizes in split_sizes.items()}
    DatasetInfosDict(infos).to_dataset_card_data(data)
    where = repo_id or "<this folder or its Hub repo id>"
    stats = "\n\n".join(f"### `{c}`\n\n{r.to_markdown()}" for c, r in sorted(reports.items()))
    description = synthetic_description(synthetic) if synthetic else DESCRIPTION
    body = f"""
# {data.pretty_name}

{description} Paper: [NFT1000: A Cross-Modal Dataset For Non-Fungible Token Retrieval]({PAPER}) (ACM MM 2024,
DOI [{DOI}](https://doi.org/{DOI})); release: {HOMEPAGE}.

## Load it

```python
from datasets import load_dataset

ds = load_dataset("{where}", "{default}")                  # train / validation / test
mini = load_dataset("{where}", "mini", split="test")  # the paper's NFT1000mini (nft1000's loaders take that name)
stream = load_dataset("{where}", "mini", split="train", streaming=True)

from nft1000_dataset import load_collections  # one collection, reading its shards only (collections.json)
azuki = load_collections("{where}", ["Azuki"], "full")
```

Configs: `full` (every token kept; the paper's NFT1000) and `mini` (a seeded sample of pairs per collection; the
paper's NFT1000mini), over the same columns: `image` (PNG, 512 px wide), `caption` (template built from the
attributes), `prompt` (for generation), `release_caption` / `release_prompt` (the release's own files, when
present), `collection`, `token_id` (a string: ERC-721 ids are uint256), `attributes` (list of `trait_type`,
`value`, `display_type`). `nft1000 components` adds a third, `components`: the collections' separated trait
components (its section below, once added).

## What the build read, kept and skipped

Every token read is either kept or counted under a reason; `build_report.json` has the per-collection
numbers and example token ids for every reason.

{stats}

## Licence

`license: other` (`nft1000`): the images and metadata belong to the collections' creators and holders; see each
collection's terms and the release ({HOMEPAGE}). This card and the build code are Apache-2.0.

## Citation

```bibtex
{CITATION}
```
"""
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n{body}").content


def rewrite_card(out_dir: Path, repo_id: str | None = None) -> None:
    """The card of an export written again from its ``build_report.json``, naming `repo_id` in its examples
    (`nft1000 push` does this before uploading); configs added later (components) are kept."""
    out_dir = Path(out_dir)
    summary = json.loads((out_dir / "build_report.json").read_text(encoding="utf-8"))
    reports = {config: BuildReport.from_dict(entry["report"]) for config, entry in summary.items()}
    sizes = {config: {split: tuple(v) for split, v in entry["sizes"].items()} for config, entry in summary.items()}
    data = DatasetCard.load(out_dir / "README.md").data
    name = (data.pretty_name or "NFT1000").removesuffix(" (synthetic)")
    write_card(out_dir, card_text(name, reports, sizes, FEATURES, repo_id, data.get(SYNTHETIC_FIELD)))


def _configs(card: DatasetCard) -> MetadataConfigs:
    return MetadataConfigs.from_dataset_card_data(card.data)


def write_card(out_dir: Path, text: str, target: Path | None = None) -> None:
    """Write the card `text` into `out_dir` (or `target`), keeping every config that a card already in `out_dir`
    has and `text` does not (the ``components`` config that `nft1000 components` added survives a rebuild)."""
    path = Path(out_dir) / "README.md"
    card = DatasetCard(text)
    if path.is_file():
        kept = {name: config for name, config in _configs(DatasetCard.load(path)).items()}
        ours = _configs(card)
        extra = {name: config for name, config in kept.items() if name not in ours}
        if extra:
            MetadataConfigs({**ours, **extra}).to_dataset_card_data(card.data)
    atomic_write_text(target or path, str(card))


def add_config_to_card(
    out_dir: Path, config: str, data_files: str, info: DatasetInfo, section: str, split: str = "train"
) -> None:
    """Add (or replace) one config, `data_files` as its `split`, with its ``dataset_info`` and a prose `section`
    (Markdown, from its ``## `` heading), in the card of `out_dir`, if it has a card."""
    path = Path(out_dir) / "README.md"
    if not path.is_file():
        return
    card = DatasetCard.load(path)
    configs = _configs(card)
    configs[config] = {"data_files": [{"split": split, "path": data_files}]}
    MetadataConfigs(configs).to_dataset_card_data(card.data)
    infos = DatasetInfosDict.from_dataset_card_data(card.data)
    infos[config] = info
    DatasetInfosDict(infos).to_dataset_card_data(card.data)
    heading = section.splitlines()[0]
    text = card.text
    if heading in text:  # the section of an earlier run, replaced: up to the next heading of its level
        start = text.index(heading)
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + text[end + 1 if end >= 0 else len(text) :]
    marker = "\n## Licence"
    text = text.replace(marker, f"\n{section.strip()}\n{marker}", 1) if marker in text else f"{text}\n{section}"
    atomic_write_text(path, f"---\n{card.data.to_yaml()}\n---\n{text}")
