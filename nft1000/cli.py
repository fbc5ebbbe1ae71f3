"""The `nft1000` command: one sub-command per job (synth, build, push, ...).

Flags take dashes or underscores (``--num-proc`` or ``--num_proc``), as the Hugging Face example scripts do.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from nft1000_io.text import configure_logging, echo, terminal_safe

from . import __version__
from .errors import run_command

# the Hugging Face example scripts' names of our flags: shown first, ours kept as aliases
HF_NAMES = {"out": "output_dir", "dataset": "dataset_name", "model": "model_name_or_path"}


def _flag(parser: argparse.ArgumentParser, name: str, hf_name: str | None = None, **kwargs) -> None:
    """Add ``--name-with-dashes`` and its ``--name_with_underscores`` alias; a flag the HF scripts name otherwise
    (`HF_NAMES`, or `hf_name`) takes their name first (``--output_dir``, ``--output-dir``), its own as an alias
    (``--out``)."""
    names = dict.fromkeys([hf_name or HF_NAMES.get(name, name), name])
    flags = [flag for n in names for flag in dict.fromkeys(["--" + n.replace("_", "-"), "--" + n])]
    parser.add_argument(*flags, dest=name, **kwargs)


def _config_flag(parser: argparse.ArgumentParser, default: str | None, **kwargs) -> None:
    """The config of the dataset a command reads, as the HF scripts' ``--dataset_config_name`` (or ``--config``)."""
    kwargs.setdefault("help", "dataset config: full or mini (or the paper's NFT1000, NFT1000mini)")
    _flag(parser, "config", hf_name="dataset_config_name", default=default, **kwargs)


class _DefaultsShown(argparse.HelpFormatter):
    """Help that ends each flag's line with its default, where it has one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        shown = action.default not in (None, False, argparse.SUPPRESS) and action.option_strings
        return f"{help_text} (default: %(default)s)" if shown and "%(default)" not in help_text else help_text


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _DefaultsShown)
        super().__init__(*args, **kwargs)


def _add_synth(sub) -> None:
    from nft1000_dataset.synth.real import VARIANTS
    from nft1000_dataset.synth.spec import STYLES

    p = sub.add_parser("synth", help="write synthetic layered PFP collections in the release layout")
    _flag(p, "out", type=Path, required=True, help="folder; the release goes to OUT/release")
    _flag(p, "collections", type=int, default=8, help="collections to write")
    _flag(p, "tokens", type=int, default=600, help="tokens per collection")
    _flag(p, "seed", type=int, default=0, help="random seed (the output depends only on it)")
    _flag(p, "zip", action="store_true", help="one zip per collection, as the real release")
    _flag(p, "faults", action="store_true", help="plant broken files and collections the filters must drop")
    _flag(p, "num_proc", type=int, default=1, help="worker processes")
    _flag(
        p,
        "style",
        choices=STYLES,
        default="easy",
        help="easy: ~35 values a collection, lossless; real-like: ~450 values, near colours (NFT1000's shape)",
    )
    _flag(
        p,
        "variant",
        choices=VARIANTS,
        default="clean",
        help="real-like images as written: lossless, LANCZOS-resampled to a non-integer size, or that as JPEG",
    )
    _flag(p, "non_layered", type=int, default=0, help="add this many collections that are not layered art")
    p.set_defaults(run=_run_synth)


def _run_synth(args) -> None:
    from nft1000_dataset.synth import synthesize

    names = synthesize(
        args.out, args.collections, args.tokens, args.seed, args.zip, args.faults, args.num_proc,
        style=args.style, variant=args.variant, non_layered=args.non_layered,
    )  # fmt: skip
    echo(f"wrote {len(names)} collections to {args.out / 'release'} (ground truth in {args.out / 'ground_truth'})")


def _add_build(sub) -> None:
    from nft1000_dataset.media import DEFAULT_IMAGE_WIDTH
    from nft1000_dataset.plan import DEFAULT_ROWS_PER_SHARD, MINI_PAIRS_PER_COLLECTION
    from nft1000_dataset.scan import DEFAULT_MIN_TOKENS
    from nft1000_dataset.splits import DEFAULT_RATIOS

    p = sub.add_parser("build", help="export a raw release as Parquet shards with a dataset card")
    _flag(p, "raw", type=Path, required=True, help="folder of collection folders or <name>.zip files")
    _flag(p, "out", type=Path, required=True, help="output folder")
    _flag(p, "config", choices=("full", "mini", "all"), default="all", help="the configs to build: full, mini or all")
    _flag(p, "partition_file", type=Path, help="official split JSON (training_list, validation_list, test_list)")
    _flag(
        p,
        "ignore_missing_collections",
        action="store_true",
        help="allow partition names absent from the data (a partial download)",
    )
    _flag(p, "split_seed", type=int, default=0, help="seed of the 80:5:15 split when no partition file is given")
    _flag(
        p,
        "split_ratios",
        type=float,
        nargs=3,
        default=DEFAULT_RATIOS,
        metavar=("TRAIN", "VAL", "TEST"),
        help="train, validation and test shares of the collections (without a partition file)",
    )
    _flag(p, "sample_seed", type=int, default=0, help="seed of the mini sample and of frames picked from videos")
    _flag(p, "pairs_per_collection", type=int, default=MINI_PAIRS_PER_COLLECTION, help="mini sample size")
    _flag(p, "min_tokens", type=int, default=DEFAULT_MIN_TOKENS, help="drop collections with fewer tokens")
    _flag(p, "image_width", type=int, default=DEFAULT_IMAGE_WIDTH, help="width every image is standardised to (pixels)")
    _flag(p, "rows_per_shard", type=int, default=DEFAULT_ROWS_PER_SHARD, help="rows per Parquet shard")
    _flag(p, "num_proc", type=int, default=1, help="worker processes")
    _flag(
        p,
        "overwrite",
        action="store_true",
        help="replace a build of other data or options in OUT, or write into a non-empty folder that is no export",
    )
    _flag(p, "name", default="NFT1000", help="pretty name in the dataset card")
    p.set_defaults(run=_run_build)


def _run_build(args) -> None:
    from nft1000_dataset.export import export_release
    from nft1000_dataset.plan import config_options

    options = config_options(
        args.pairs_per_collection,
        partition_file=args.partition_file and str(args.partition_file),
        split_seed=args.split_seed,
        sample_seed=args.sample_seed,
        split_ratios=tuple(args.split_ratios),
        ignore_missing_collections=args.ignore_missing_collections,
        image_width=args.image_width,
        rows_per_shard=args.rows_per_shard,
    )
    wanted = options if args.config == "all" else {args.config: options[args.config]}
    build = {"min_tokens": args.min_tokens, "num_proc": args.num_proc, "overwrite": args.overwrite, "name": args.name}
    for report in export_release(args.raw, args.out, wanted, **build).values():
        echo(report.to_markdown(), end="\n\n")
    echo(f"dataset card: {args.out / 'README.md'}\nbuild report: {args.out / 'build_report.json'}")
    echo(f'load it: load_dataset("{args.out}", "{next(iter(wanted))}")')


def _add_push(sub) -> None:
    p = sub.add_parser("push", help="upload an exported folder to a Hub dataset repo (resumable)")
    p.add_argument("folder", type=Path)
    _flag(p, "repo_id", required=True, help="Hub dataset repo, e.g. you/nft1000")
    _flag(p, "private", action="store_true", help="create the repo private")
    _flag(p, "revision", help="branch to push to")
    _flag(p, "token", help="Hub token (prefer HF_TOKEN or `hf auth login`); never written anywhere")
    p.set_defaults(run=_run_push)


def _run_push(args) -> None:
    from nft1000_dataset.hub import push_release

    echo(push_release(args.folder, args.repo_id, private=args.private, token=args.token, revision=args.revision))


def _add_components(sub) -> None:
    from modeling.separation.separate import SeparationParams

    defaults = SeparationParams()
    p = sub.add_parser("components", help="separate each collection's components (paper 5.1) into a library")
    _flag(p, "dataset", required=True, help="exported NFT1000 folder or Hub repo id")
    _config_flag(p, "full")
    _flag(p, "split", action="append", help="splits to use (default: all); repeat for several")
    _flag(
        p,
        "collection",
        action="append",
        help="separate only this collection, reading only its shards (repeat for several)",
    )
    _flag(p, "out", type=Path, required=True, help="where the library goes; the dataset folder adds a config")
    _flag(
        p,
        "group_size",
        type=int,
        default=defaults.group_size,
        help="images differenced at a time (the paper's method; 4)",
    )
    _flag(p, "rounds", type=int, default=defaults.rounds, help="differencing rounds (the paper's method; 8)")
    _flag(p, "min_support", type=int, default=defaults.min_support, help="tokens a value needs to get a component")
    _flag(
        p,
        "tolerance",
        type=int,
        default=defaults.tolerance,
        help="per-channel colour tolerance (default: estimated per collection from its images)",
    )
    _flag(p, "positives", type=int, default=defaults.positives, help="carriers of each value held in the pool")
    _flag(p, "contrast_tokens", type=int, default=defaults.contrast_tokens, help="tokens contrast is judged on")
    _flag(
        p,
        "max_working_pixels",
        type=int,
        default=defaults.max_working_pixels,
        help="blocks that art without a pixel grid is separated on (then refined at full resolution)",
    )
    _flag(p, "method", choices=("peel", "paper"), default=defaults.method, help="paper: the literal recipe")
    _flag(p, "seed", type=int, default=defaults.seed, help="random seed (the output depends only on it)")
    _flag(p, "num_proc", type=int, default=1, help="worker processes")
    _flag(p, "overwrite", action="store_true", help="write into a non-empty OUT that is no library or export")
    p.set_defaults(run=_run_components)


def _run_components(args) -> None:
    from modeling.separation.job import build_library
    from modeling.separation.library import REPORT_FILE, components_table
    from modeling.separation.separate import SeparationParams
    from nft1000_dataset.export import EXPORT_FILES
    from nft1000_dataset.exported import load_all_splits, load_collections
    from nft1000_io.output_folder import claim_output_folder

    if not args.overwrite:  # a library folder, resumed, or the export it belongs to
        claim_output_folder(args.out, (*EXPORT_FILES, REPORT_FILE, "data", "component_sheets"), "nft1000 components")
    fields = ("group_size", "rounds", "min_support", "tolerance", "positives", "contrast_tokens",
              "max_working_pixels", "method", "seed")  # fmt: skip
    params = SeparationParams(**{name: getattr(args, name) for name in fields})
    if args.collection:
        dataset = load_collections(args.dataset, args.collection, args.config)
    else:
        dataset = load_all_splits(args.dataset, args.config, args.split)
    echo(components_table(build_library(dataset, args.out, params, args.num_proc)))
    echo(f"library: {args.out / 'data' / 'components'}\nreport: {args.out / REPORT_FILE}")
    echo(f"sheets: {args.out / 'component_sheets'}")


def _add_preview_masking(sub) -> None:
    from modeling.masking.masker import FILLS, MODES, DynamicMasker
    from modeling.masking.policy import DEFAULT_MASK_PROB

    p = sub.add_parser("preview-masking", help="a PNG grid of original / masked pairs with their captions")
    _flag(p, "dataset", required=True, help="exported NFT1000 folder or Hub repo id")
    _config_flag(p, "mini")
    _flag(p, "split", default="train", help="dataset split: train, validation or test")
    _flag(p, "components", required=True, help="folder or repo with the components config")
    _flag(p, "collection", action="append", help="only this collection, reading only its shards (repeat)")
    _flag(p, "out", type=Path, required=True, help="PNG file to write")
    _flag(p, "num_samples", type=int, default=8, help="pairs shown")
    _flag(p, "mask_prob", type=float, default=DEFAULT_MASK_PROB, help="probability p of masking a component")
    _flag(
        p,
        "mode",
        choices=MODES,
        default=DynamicMasker.mode,
        help="independent: each component with probability p; one: one component with probability p",
    )
    _flag(p, "fill", choices=FILLS, default=DynamicMasker.fill, help="what masked pixels become")
    _flag(p, "seed", type=int, default=0, help="random seed (the output depends only on it)")
    p.set_defaults(run=_run_preview_masking)


def _run_preview_masking(args) -> None:
    from modeling.masking.masker import DynamicMasker
    from modeling.masking.preview import preview_masking
    from modeling.separation.library import ComponentLibrary
    from nft1000_dataset.exported import load_collections, load_export

    if args.collection:
        rows = load_collections(args.dataset, args.collection, args.config).shuffle(seed=args.seed)
    else:
        rows = load_export(args.dataset, args.config, split=args.split).shuffle(seed=args.seed)
    library = ComponentLibrary.load(args.components, args.dataset)
    library.check_coverage(rows.unique("collection"), args.dataset, args.components, "preview another dataset")
    masker = DynamicMasker(library, args.mask_prob, args.mode, args.fill)
    preview_masking(rows.select(range(min(args.num_samples, len(rows)))), masker, args.seed, args.out)
    echo(f"wrote {args.out}")


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="retrieval top-1/5/10 of CLIP models on a split (whole split and per collection)")
    _flag(p, "model", action="append", required=True, help="checkpoint name or folder; repeat for several rows")
    _flag(p, "dataset", required=True, help="exported NFT1000 folder or Hub repo id")
    _config_flag(p, "mini")
    _flag(p, "split", default="test", help="dataset split: train, validation or test")
    _flag(p, "output_dir", type=Path, required=True, help="retrieval.json and retrieval.md go here")
    _flag(p, "holdout_tokens", type=float, default=0,
          help="evaluate the tokens train_clip.py --holdout_tokens held out of SPLIT (the training split)")  # fmt: skip
    _flag(p, "holdout_seed", type=int, default=0, help="the --holdout_seed of that training run")
    _flag(p, "update_model_card", action="store_true",
          help="also write the results into each model folder's card (model-index, labelled by protocol)")  # fmt: skip
    _add_embedding_flags(p)
    p.set_defaults(run=_run_eval)


def _add_embedding_flags(p) -> None:
    _flag(p, "cache_dir", type=Path, help="embeddings cache, shared by eval and cvi "
          "(default: $NFT1000_CACHE/embeddings, else ~/.cache/nft1000/embeddings)")  # fmt: skip
    _flag(p, "batch_size", type=int, default=256, help="rows encoded per batch")
    _flag(p, "num_workers", type=int, default=0, help="DataLoader worker processes")


def _embeddings(args, dataset, name: str):
    from evaluation.embeddings import DEFAULT_CACHE_DIR, split_embeddings
    from modeling.models.clip import load_clip

    model, processor = load_clip(name)
    return split_embeddings(
        model,
        processor,
        dataset,
        name_or_path=name,
        cache_dir=args.cache_dir or DEFAULT_CACHE_DIR,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
    )


def _run_eval(args) -> None:
    from evaluation.protocols import HELD_OUT_TOKENS, UNSEEN_COLLECTIONS, hold_out_tokens
    from evaluation.report import RetrievalReport, write_retrieval
    from nft1000.model_card import update_model_cards
    from nft1000_dataset.exported import load_export

    dataset = load_export(args.dataset, args.config, split=args.split)
    protocol = UNSEEN_COLLECTIONS
    if args.holdout_tokens:
        _, dataset = hold_out_tokens(dataset, args.holdout_tokens, args.holdout_seed)
        protocol = HELD_OUT_TOKENS
    reports = {name: RetrievalReport.from_embeddings(_embeddings(args, dataset, name)) for name in args.model}
    pairs = f"{args.config}, {args.split}: {len(dataset)} pairs"
    title = f"Retrieval on `{args.dataset}` ({pairs}; protocol: {protocol}), percent."
    markdown = write_retrieval(reports, args.output_dir, title)
    if args.update_model_card:
        update_model_cards(reports, args.dataset, args.config, args.split, protocol, title)
    echo(markdown + f"\nwritten: {args.output_dir / 'retrieval.json'}, {args.output_dir / 'retrieval.md'}")


def _add_cvi(sub) -> None:
    from evaluation.cvi.cvi_index import CviOptions

    defaults = CviOptions()
    p = sub.add_parser("cvi", help="per-collection CVI beside top-k (paper Table 6), alpha calibration (Figure 11)")
    _flag(p, "model", required=True, help="checkpoint name or folder")
    _flag(p, "dataset", required=True, help="exported NFT1000 folder or Hub repo id")
    _config_flag(p, "mini")
    _flag(p, "split", default="test", help="dataset split: train, validation or test")
    _flag(p, "output_dir", type=Path, required=True, help="cvi.json, cvi.md (and alpha_curve.png) go here")
    _flag(
        p,
        "alpha",
        type=float,
        default=defaults.alpha,
        help="weight of image-image against text-text similarity (the paper's best: 0.7)",
    )
    _flag(p, "exclude_diagonal", action="store_true", help="drop each row's own entry from its variance")
    _flag(
        p,
        "similarity",
        choices=("cosine", "softmax"),
        default=defaults.similarity,
        help="cosine (as equation 1 is written) or softmax probabilities at the model's temperature",
    )
    _flag(p, "calibrate_alpha", action="store_true", help="JSD against top-k for alpha in 0..1, plot the curve")
    _add_embedding_flags(p)
    p.set_defaults(run=_run_cvi)


def _run_cvi(args) -> None:
    from evaluation.cvi import CviOptions
    from evaluation.cvi_report import calibrate_alpha, cvi_report, rank_correlation, write_cvi
    from evaluation.report import RetrievalReport
    from nft1000_dataset.exported import load_export

    dataset = load_export(args.dataset, args.config, split=args.split)
    embeddings = _embeddings(args, dataset, args.model)
    options = CviOptions(alpha=args.alpha, include_diagonal=not args.exclude_diagonal, similarity=args.similarity)
    report = cvi_report(embeddings, RetrievalReport.from_embeddings(embeddings), options)
    report["spearman"] = rank_correlation(report)
    calibration = calibrate_alpha(report) if args.calibrate_alpha else None
    markdown = write_cvi(report, args.output_dir, calibration)
    echo(markdown + f"\nwritten: {args.output_dir / 'cvi.json'}, {args.output_dir / 'cvi.md'}")


def _add_generate(sub) -> None:
    from nft1000.generate import GenerationRequest

    defaults = GenerationRequest()
    p = sub.add_parser("generate", help="images from traits (or a prompt) with a collection LoRA from train_lora.py")
    _flag(p, "lora", type=Path, help="train_lora.py output folder")
    _flag(p, "base", help="Stable Diffusion pipeline name or folder (default: the LoRA's base)")
    _flag(p, "collection", help="default: the LoRA's collection")
    _flag(p, "traits", nargs="+", metavar="TRAIT=VALUE", help='e.g. "Hair=Pink Hairband" "Clothing=Kimono"')
    _flag(p, "prompt", help="a free prompt instead of --traits")
    _flag(p, "negative_prompt", help="what the images should not show")
    _flag(p, "out", type=Path, required=True, help="PNGs, grid.png and generation.json go here")
    _flag(
        p, "num_images", type=int, default=defaults.num_images, help="images to render (seeds --seed, --seed + 1, ...)"
    )
    _flag(p, "batch_size", type=int, default=defaults.batch_size, help="rows encoded per batch")
    _flag(p, "seed", type=int, default=defaults.seed, help="image i uses seed + i")
    _flag(p, "num_inference_steps", type=int, default=defaults.num_inference_steps, help="denoising steps")
    _flag(p, "guidance_scale", type=float, default=defaults.guidance_scale, help="classifier-free guidance scale")
    _flag(p, "lora_scale", type=float, default=defaults.lora_scale, help="0 gives the base model's images")
    _flag(p, "device", help="default: cuda when available")
    p.set_defaults(run=_run_generate)


def _run_generate(args) -> None:
    from nft1000.generate import GenerationRequest, generate

    fields = GenerationRequest.__dataclass_fields__
    request = GenerationRequest(**{name: getattr(args, name) for name in fields})
    record = generate(request, args.out)
    echo(f"prompt: {record['prompt']}\nwrote {len(record['files'])} images and grid.png to {args.out}")


def _add_index(sub) -> None:
    p = sub.add_parser("index", help="a search index of a trained CLIP's embeddings (adds new collections)")
    _flag(p, "model", required=True, help="CLIP folder or Hub name (queries will use the same)")
    _flag(p, "dataset", help="exported NFT1000 folder or Hub repo id")
    _config_flag(p, "mini")
    _flag(p, "split", action="append", help="splits to index (default: all); repeat for several")
    _flag(p, "out", type=Path, required=True, help="the index folder (created, or extended)")
    _flag(p, "replace", action="store_true", help="re-index collections already in the index")
    _flag(p, "ann", action="store_true", help="also build the approximate (HNSW, faiss) indexes")
    _flag(p, "batch_size", type=int, default=256, help="rows encoded per batch")
    _flag(p, "overwrite", action="store_true", help="write into a non-empty OUT that is no search index")
    p.set_defaults(run=_run_index)


def _run_index(args) -> None:
    from modeling.models.clip import load_clip
    from nft1000.search.index import MANIFEST, NFTIndex
    from nft1000_dataset.exported import load_all_splits
    from nft1000_io.output_folder import claim_output_folder

    if not args.overwrite:
        claim_output_folder(args.out, (MANIFEST,), "nft1000 index")
    model, processor = load_clip(args.model)
    exists = (args.out / MANIFEST).is_file()
    index = (
        NFTIndex.open(args.out) if exists else NFTIndex.create(args.out, args.model, model, args.dataset, args.config)
    )
    if args.dataset:
        dataset = load_all_splits(args.dataset, args.config, args.split)
        report = index.add(dataset, model, processor, replace=args.replace, batch_size=args.batch_size)
        echo(f"added {len(report['added'])} collections, skipped {len(report['skipped'])} already indexed")
    if args.ann:
        index.build_ann()
    echo(f"{args.out}: {len(index)} tokens of {len(index.collections)} collections")


MODEL_OVERRIDE = "the index's model where it has moved (a folder or Hub id; its weights are checked)"


def _add_search(sub) -> None:
    p = sub.add_parser("search", help="tokens for a text query or an image, from an index")
    p.add_argument("index", type=Path)
    p.add_argument("query", nargs="?", help="text query")
    _flag(p, "image", type=Path, help="an image query instead of text")
    _flag(p, "collection", help="search within one collection")
    p.add_argument("-k", type=int, default=10, help="results to show")
    _flag(p, "target", choices=("image", "caption", "both"), default="both", help="what a text query is scored on")
    _flag(p, "approximate", action="store_true", help="use the HNSW indexes (built with `nft1000 index --ann`)")
    _flag(p, "json", action="store_true", help="JSON lines for programs")
    _flag(p, "model", help=MODEL_OVERRIDE)
    p.set_defaults(run=_run_search)


def _run_search(args) -> None:
    import json
    from dataclasses import asdict

    from PIL import Image

    from nft1000.search.engine import NFTSearch

    if (args.query is None) == (args.image is None):
        raise ValueError("give a text query or --image, not both")
    searcher = NFTSearch.open(args.index, args.model)
    options = {"collection": args.collection, "approximate": args.approximate}
    if args.image is not None:
        with Image.open(args.image) as image:
            hits = searcher.image(image, args.k, **options)
    else:
        hits = searcher.text(args.query, args.k, target=args.target, **options)
    for rank, hit in enumerate(hits, 1):
        if args.json:
            echo(json.dumps({"rank": rank, **asdict(hit)}))
        else:
            text = f"{terminal_safe(hit.collection)} #{terminal_safe(hit.token_id)}  {terminal_safe(hit.caption)}"
            echo(f"{rank:3d}  {hit.score:.3f}  {text}")


def _add_piracy(sub) -> None:
    from nft1000.search.piracy import PiracyOptions

    defaults = PiracyOptions()
    p = sub.add_parser("piracy", help="near-duplicates of a protected collection in the other collections")
    p.add_argument("index", type=Path)
    _flag(p, "collection", required=True, help="the protected collection")
    _flag(p, "out", type=Path, required=True, help="piracy.md, piracy.json (and pairs.png) go here")
    _flag(p, "dataset", help="the dataset of the PNG sheet of the closest pairs (default: the one the index records)")
    _config_flag(p, None, help="its config (default: the one the index records)")
    _flag(p, "similarity", type=float, default=defaults.similarity, help="image-embedding cosine a candidate needs")
    _flag(
        p,
        "hash_bits",
        type=int,
        default=defaults.hash_bits,
        help="largest perceptual-hash distance (of 256 bits) of a copy",
    )
    _flag(p, "candidates", type=int, default=defaults.candidates, help="nearest images examined per protected token")
    p.set_defaults(run=_run_piracy)


def _run_piracy(args) -> None:
    from nft1000.search.index import NFTIndex
    from nft1000.search.piracy import PiracyOptions, detect_piracy, piracy_markdown, write_piracy
    from nft1000_dataset.exported import TokenImages

    options = PiracyOptions(similarity=args.similarity, hash_bits=args.hash_bits, candidates=args.candidates)
    index = NFTIndex.open(args.index)
    report = detect_piracy(index, args.collection, options)
    dataset, config = index.source(args.dataset, args.config)
    images = TokenImages(dataset, config) if dataset else None
    echo(piracy_markdown(report))
    echo("written: " + ", ".join(str(path) for path in write_piracy(report, args.out, images)))


def _add_search_app(sub) -> None:
    p = sub.add_parser("search-app", help="a Gradio search page for an index")
    p.add_argument("index", type=Path)
    _flag(p, "dataset", help="the dataset whose images the results show (default: the one the index records)")
    _config_flag(p, None, help="its config (default: the one the index records)")
    _flag(p, "model", help=MODEL_OVERRIDE)
    _flag(p, "host", default="127.0.0.1", help="address the page listens on")
    _flag(p, "port", type=int, default=7860, help="port the page listens on")
    p.set_defaults(run=_run_search_app)


def _run_search_app(args) -> None:
    from nft1000.search.app import build_app
    from nft1000.search.engine import NFTSearch
    from nft1000_dataset.exported import TokenImages

    searcher = NFTSearch.open(args.index, args.model)
    dataset, config = searcher.index.source(args.dataset, args.config)
    image_of = TokenImages(dataset, config) if dataset else None
    build_app(searcher, image_of).launch(server_name=args.host, server_port=args.port)


def _add_collect(sub) -> None:
    from nft1000_dataset.collect.options import FetchOptions

    defaults = FetchOptions()
    p = sub.add_parser("collect", help="a collection from its ERC-721 contract into the release layout (paper 4.2)")
    _flag(p, "contract", required=True, help="the contract address, 0x...")
    _flag(p, "rpc", required=True, help="a JSON-RPC endpoint of the chain")
    _flag(p, "out", type=Path, required=True, help="release folder; the collection goes to OUT/<name>")
    _flag(p, "name", help="collection folder name (default: the contract's name())")
    _flag(p, "ipfs_gateway", action="append", help="an IPFS gateway, tried in the order given (repeat)")
    _flag(p, "arweave_gateway", default=None, help="Arweave gateway for ar:// URIs")
    _flag(p, "token_ids", type=int, nargs=2, metavar=("FIRST", "LAST"), help="id range when not Enumerable")
    _flag(p, "concurrency", type=int, default=defaults.concurrency, help="downloads at a time")
    _flag(p, "timeout", type=float, default=defaults.timeout, help="seconds per request")
    _flag(
        p,
        "retries",
        type=int,
        default=defaults.retries,
        help="retries per request (timeouts, dropped connections, 429, 5xx)",
    )
    _flag(p, "per_host_rate", type=float, default=defaults.per_host_rate, help="requests per second per host")
    _flag(p, "max_bytes", type=int, default=defaults.max_bytes, help="size cap of one file")
    _flag(
        p,
        "allow_private_hosts",
        action="store_true",
        help="let URLs from the contract and metadata reach loopback and private addresses (the gateways always may)",
    )
    _flag(p, "overwrite", action="store_true", help="write into a non-empty OUT/<name> that is no collected folder")
    p.set_defaults(run=_run_collect)


def _run_collect(args) -> None:
    import asyncio

    from nft1000_dataset.collect.collector import COLLECTED_FILES, Collector, collect_summary, read_contract
    from nft1000_dataset.collect.options import FetchOptions
    from nft1000_dataset.collect.uris import DEFAULT_ARWEAVE_GATEWAY, DEFAULT_IPFS_GATEWAYS
    from nft1000_io.output_folder import claim_output_folder

    ids = range(args.token_ids[0], args.token_ids[1] + 1) if args.token_ids else None
    tokens = read_contract(args.rpc, args.contract, ids)
    options = FetchOptions(args.concurrency, args.timeout, args.retries, per_host_rate=args.per_host_rate,
                           max_bytes=args.max_bytes, allow_private_hosts=args.allow_private_hosts)  # fmt: skip
    collector = Collector(
        args.out,
        args.name or tokens.name,
        tuple(args.ipfs_gateway or DEFAULT_IPFS_GATEWAYS),
        args.arweave_gateway or DEFAULT_ARWEAVE_GATEWAY,
        options,
    )
    if not args.overwrite:
        claim_output_folder(collector.folder, COLLECTED_FILES, "nft1000 collect")
    echo(f"{collector.folder}: {collect_summary(asyncio.run(collector.run(tokens)))}")


def _add_pretrain(sub) -> None:
    from dataclasses import fields

    from nft1000.pretrain import PretrainOptions

    defaults = PretrainOptions()
    p = sub.add_parser("pretrain", help="a tiny CLIP pretrained offline on a synthetic corpus, to fine-tune from")
    _flag(p, "out", type=Path, required=True, help="the corpus goes to OUT/corpus, the model to OUT/model")
    helps = {
        "easy": "easy collections in the corpus (about 35 trait values each)",
        "real_like": "real-like collections in the corpus (hundreds of values, resampled pixel art)",
        "tokens": "tokens per corpus collection",
        "corpus_seed": "the corpus's seed (never one an evaluation collection is synthesised with)",
        "image_width": "width the corpus images are exported at (pixels)",
        "steps": "training steps",
        "batch_size": "training batch size",
        "learning_rate": "peak learning rate",
        "image_size": "image size of the tiny CLIP",
        "seed": "seed of the training run",
        "num_proc": "worker processes",
    }
    for option in fields(PretrainOptions):
        _flag(p, option.name, type=type(getattr(defaults, option.name)), default=getattr(defaults, option.name),
              help=helps[option.name])  # fmt: skip
    p.set_defaults(run=_run_pretrain)


def _run_pretrain(args) -> None:
    from dataclasses import fields

    from nft1000.pretrain import PretrainOptions, pretrain_clip

    options = PretrainOptions(**{option.name: getattr(args, option.name) for option in fields(PretrainOptions)})
    model = pretrain_clip(args.out, options)
    echo(f"pretrained tiny CLIP: {model}\nfine-tune from it: train_clip.py --model_name_or_path {model} ...")


def _add_demo(sub) -> None:
    from nft1000.demo import SIZES

    p = sub.add_parser("demo", help="the main job on the embedded default, end to end, with one comparison table")
    _flag(p, "out", type=Path, default=Path("demo"), help="everything goes here; a rerun reuses finished stages")
    _flag(p, "size", choices=sorted(SIZES), default="default", help="default: about 15 minutes on 2 cores")
    _flag(p, "seed", type=int, default=0, help="random seed (the output depends only on it)")
    _flag(p, "num_proc", type=int, default=2, help="worker processes")
    p.set_defaults(run=_run_demo)


def _run_demo(args) -> None:
    from nft1000.demo import run_demo

    result = run_demo(main, args.out, args.size, args.seed, args.num_proc)
    echo("\n" + result["table"])
    echo("written:\n" + "\n".join(f"  {label}: {path}" for label, path in result["written"].items()))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nft1000", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"nft1000 {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (
        _add_synth,
        _add_build,
        _add_push,
        _add_components,
        _add_preview_masking,
        _add_eval,
        _add_cvi,
        _add_generate,
        _add_index,
        _add_search,
        _add_piracy,
        _add_search_app,
        _add_collect,
        _add_pretrain,
        _add_demo,
    ):
        add(sub)
    return parser


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line parsed; a flag a sub-command does not know is reported with that sub-command's usage."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
        commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def main(argv: list[str] | None = None) -> int:
    configure_logging("%(levelname)s %(name)s: %(message)s")
    if not sys.stderr.isatty():  # progress bars belong on a terminal, not in a log file (ours: tqdm's disable=None)
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    args = parse(argv)
    return run_command(lambda: args.run(args), f"nft1000 {args.command}")


if __name__ == "__main__":
    sys.exit(main())
