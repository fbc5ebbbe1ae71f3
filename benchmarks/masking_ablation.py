"""The paper's Table 3 on the embedded default: `--model tiny` from scratch (or `--model DIR`, a pretrained start
from `nft1000 pretrain`), equal budget, mask probability p in
{0, 0.3, 0.5, 0.7}, in a data-rich setting (every training pair) and a data-scarce one (a fraction of them),
evaluated on the test split (collections never seen in training, as in the paper's split) or, with
``--holdout-tokens N``, on N held-out tokens of each training collection (`evaluation.protocols`).

    python benchmarks/masking_ablation.py --dataset DIR --steps 400 --seeds 0 1 [--scarce-fraction 0.1]
    # the held-out-token protocol at fixed budgets (CryptoPunks: one collection, 1,000 punks held out)
    python benchmarks/masking_ablation.py --dataset PUNKS --train-split test --eval-split "" \
        --holdout-tokens 1000 --budgets 100 300 1000 --ps 0 0.3 0.5 --seeds 0 1 2 3 4
    # masking policies (`modeling.masking.policy`) with early stopping on a validation slice of the held-out tokens
    python benchmarks/masking_ablation.py ... --ps 0 0.3 --policies constant decay scarcity \
        --holdout-tokens 1500 --validation-holdout-tokens 500 --eval-steps 25

A seed fixes the training subset, the initialisation and the data order for every arm (p and policy), so the runs
of one seed are paired: the table gives, per cell, the per-seed differences of text-to-image top-1 against the first
arm (p = 0), how
many seeds improved, and the two-sided Wilcoxon signed-rank and sign tests' p-values (with 5 seeds the smallest
attainable two-sided p is 0.0625).

DIR is an export with the ``components`` config (`nft1000 components`). Prints a Markdown table (percent
top-k, paired target, both directions; mean over seeds, then each seed) and writes every run's report to
--output. ``--jobs N`` runs N trainings at a time, each in its own process (for a machine with many cores: the
tiny model is bound by its DataLoader workers).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from datasets import load_dataset

from evaluation.protocols import HELD_OUT_TOKENS, UNSEEN_COLLECTIONS
from evaluation.report import RetrievalReport
from modeling.masking.collator import MASK_SIZES
from modeling.masking.masker import MODES
from modeling.masking.policy import POLICIES
from nft1000.pretrain import corpus_collections
from nft1000.train_clip import TrainingConfig, result_label
from nft1000.train_clip import run as train_clip
from nft1000_io.atomic import atomic_write_png


def run(args, p: float, policy: str, seed: int, samples: int | None, out: Path) -> dict:
    logging.disable(logging.WARNING)  # in each run's own process
    settings = dict(
        dataset_name=args.dataset, dataset_config_name=args.config, model_name_or_path=args.model,
        tiny_image_size=args.image_size, output_dir=str(out), mask_prob=p,
        per_device_train_batch_size=args.batch_size, max_train_steps=args.steps, learning_rate=args.learning_rate,
        num_warmup_steps=args.steps // 10, seed=seed, eval_split=args.eval_split, report_to="none",
        logging_steps=args.steps, dataloader_num_workers=args.workers, train_split=args.train_split,
        holdout_tokens=args.holdout_tokens, holdout_seed=0, mask_mode=args.mask_mode, mask_at=args.mask_at,
        mask_policy=policy, max_train_samples=samples,
        dataloader_persistent_workers=bool(args.workers),  # small budgets are many short epochs
    )  # fmt: skip
    if args.validation_holdout_tokens:  # early stopping: the step of the best validation score is reported
        settings |= {"validation_holdout_tokens": args.validation_holdout_tokens, "load_best_model_at_end": True,
                     "eval_steps": args.eval_steps}  # fmt: skip
    start = time.perf_counter()
    results = train_clip(TrainingConfig.of(**settings))
    seconds = time.perf_counter() - start
    return {"start": args.model, "p": p, "policy": policy, "seed": seed, "samples": samples, "seconds": seconds,
            **results}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument(
        "--model", default="tiny", help="the start: tiny (from scratch) or a folder, e.g. from `nft1000 pretrain`"
    )
    parser.add_argument("--config", default="full")
    parser.add_argument("--eval-split", default="test", help='the unseen-collection protocol\'s split; "" for none')
    parser.add_argument("--train-split", default="train")
    parser.add_argument("--holdout-tokens", type=float, default=0, help="held-out tokens of each training collection")
    parser.add_argument("--budgets", type=int, nargs="+", help="training pairs per setting (replaces --settings)")
    parser.add_argument("--ps", type=float, nargs="+", default=[0.0, 0.3, 0.5, 0.7])
    parser.add_argument(
        "--policies", nargs="+", choices=POLICIES, default=["constant"], help="each p > 0 is run with each policy"
    )
    parser.add_argument(
        "--validation-holdout-tokens",
        type=float,
        default=0,
        help="a validation slice of the held-out tokens: "
        "evaluated every --eval-steps, the best step's weights are the ones tested (early stopping)",
    )
    parser.add_argument("--eval-steps", type=int, default=25)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--mask-mode", choices=MODES, default="independent", help="independent: each component with p; one: one with p"
    )
    parser.add_argument(
        "--mask-at", choices=MASK_SIZES, default="resized", help="full: mask before resizing (pixel art at 32 px)"
    )
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--scarce-fraction", type=float, default=0.1)
    parser.add_argument(
        "--settings", nargs="+", choices=("data-rich", "data-scarce"), default=["data-rich", "data-scarce"]
    )
    parser.add_argument("--output", type=Path, default=Path("masking_ablation.json"))
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time, each in its own process")
    parser.add_argument("--resume", action="store_true", help="keep the runs already in --output, do the rest")
    parser.add_argument(
        "--report-only", action="store_true", help="train nothing: the tables of every arm already in --output"
    )
    parser.add_argument(
        "--plot", type=Path, help="draw text-to-image top-1 against the training budget, one line per arm (PNG)"
    )
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    rows = load_dataset(args.dataset, args.config, split=args.train_split)
    _check_never_pretrained_on(args.model, set(rows.unique("collection")))
    train_rows = rows.num_rows
    sizes = {"data-rich": None, "data-scarce": max(args.batch_size, int(args.scarce_fraction * train_rows))}
    settings = {name: sizes[name] for name in args.settings}
    if args.budgets:
        settings = {f"{budget} pairs": budget for budget in args.budgets}
    protocol = HELD_OUT_TOKENS if args.holdout_tokens else UNSEEN_COLLECTIONS
    label = result_label("fine-tuned", protocol)  # the held-out tokens when asked for, beside any unseen split
    arms = _arms(args.ps, args.policies)
    runs = json.loads(args.output.read_text()) if (args.resume or args.report_only) and args.output.is_file() else []
    if args.report_only:  # the arms stored, p = 0 first (the paired tables' base)
        arms = sorted({_arm(r) for r in runs if r["setting"] in settings})
    if any(r.get("start", "tiny") != args.model for r in runs):
        raise SystemExit(f"{args.output} holds runs from another start than {args.model}: write to another file")
    done = {(r["setting"], _arm(r), r["seed"]) for r in runs}
    plan = [
        (name, samples, arm, seed)
        for name, samples in settings.items()
        for arm in arms
        for seed in args.seeds
        if (name, arm, seed) not in done and not args.report_only
    ]
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        futures = {
            pool.submit(run, args, *arm, seed, samples, Path(tmp) / f"{setting}-{arm[0]}-{arm[1]}-{seed}"): setting
            for setting, samples, arm, seed in plan
        }
        for future in as_completed(futures):
            runs.append({"setting": futures[future], **future.result()})
            args.output.write_text(json.dumps(runs, indent=2))
    print(f"\nstart: {_start(args.model)}")
    print(f"protocol: {protocol}; masking mode: {args.mask_mode}, at the {args.mask_at} size")
    validation = args.validation_holdout_tokens
    stopping = f", early stopping on {validation:g} validation tokens a collection" if validation else ""
    print(f"train rows: {train_rows}; {args.steps} steps x batch {args.batch_size}{stopping}; seeds {args.seeds}\n")
    header = "| t2i top1 | t2i top5 | t2i top10 | i2t top1 | i2t top5 | i2t top10 |"
    print(f"| setting | train pairs | p | policy {header} best step | minutes |")
    print(f"| --- | ---: | ---: | --- {'| ---: ' * 8}|")
    for setting, samples in settings.items():
        for arm in arms:
            chosen = [r for r in runs if r["setting"] == setting and _arm(r) == arm]
            if not chosen:
                continue  # an arm stored for another setting only (--report-only)
            minutes = sum(r["seconds"] for r in chosen) / len(chosen) / 60
            steps = "/".join(str(r.get("best_step", args.steps)) for r in sorted(chosen, key=lambda r: r["seed"]))
            cells = _mean_cells(chosen, label)
            print(f"| {setting} | {samples or train_rows} | {arm[0]} | {arm[1]} | {cells} | {steps} | {minutes:.1f} |")
    if args.plot:
        title = f"{Path(args.dataset).name}, {_start(args.model, short=True)}"
        plot_budget_curve(runs, arms, label, title, args.plot)
    if len(args.seeds) > 1:
        print(_paired_table(runs, settings, arms, label))
        print(f"\nEach seed:\n\n| setting | p | policy | seed {header}\n| --- | ---: | --- | ---: {'| ---: ' * 6}|")
        for r in sorted(runs, key=lambda r: (r["setting"], _arm(r), r["seed"])):
            print(f"| {r['setting']} | {r['p']} | {_arm(r)[1]} | {r['seed']} | {_mean_cells([r], label)} |")


def plot_budget_curve(runs: list[dict], arms: list[tuple[float, str]], label: str, title: str, path: Path) -> None:
    """Mean text-to-image top-1 (each seed a dot) against training pairs, a line per arm (`docs/masking_budget.png`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for p, policy in arms:
        chosen = [r for r in runs if _arm(r) == (p, policy) and r["samples"]]
        budgets = sorted({r["samples"] for r in chosen})
        means = [sum(_top1(r, label) for r in chosen if r["samples"] == b) / sum(r["samples"] == b for r in chosen)
                 for b in budgets]  # fmt: skip
        name = "no masking" if p == 0 else f"p = {p}, {policy}"
        (line,) = axes.plot(budgets, means, marker="o", label=name)
        axes.scatter([r["samples"] for r in chosen], [_top1(r, label) for r in chosen], s=8, color=line.get_color())
    axes.set(xscale="log", xlabel="training pairs", ylabel="text-to-image top-1 (%), held-out tokens", title=title)
    budgets = sorted({r["samples"] for r in runs if r["samples"]})
    axes.set_xticks(budgets, labels=[str(b) for b in budgets], minor=False)
    axes.minorticks_off()
    axes.legend()
    figure.tight_layout()
    atomic_write_png(path, figure)
    plt.close(figure)


def _check_never_pretrained_on(model: str, collections: set[str]) -> None:
    """Refuse a start pretrained (`nft1000 pretrain`) on any of the evaluated `collections`."""
    seen = set(corpus_collections(model) or ()) & collections if model != "tiny" else set()
    if seen:
        raise SystemExit(f"{model} was pretrained on {sorted(seen)}, which this ablation evaluates")


def _start(model: str, short: bool = False) -> str:
    """The start a run used; `short` names a pretrained one by its last two path parts (a plot's title)."""
    if model == "tiny":
        return "tiny CLIP from scratch"
    return f"{'/'.join(Path(model).parts[-2:]) if short else model} (pretrained)"


def _arms(ps: list[float], policies: list[str]) -> list[tuple[float, str]]:
    """(p, policy) of each arm: p = 0 once (no policy masks anything at 0), every other p with every policy."""
    return [(p, policy) for p in ps for policy in (["constant"] if p == 0 else policies)]


def _arm(run: dict) -> tuple[float, str]:
    return run["p"], run.get("policy", "constant")  # runs stored before policies were constant


def _top1(run: dict, label: str) -> float:
    return RetrievalReport(run[label]).top("text_to_image")["top1"]


def _paired_table(runs: list[dict], settings: dict, arms: list[tuple[float, str]], label: str) -> str:
    """Per setting and arm, text-to-image top-1 against the first arm's, seed by seed, with paired tests."""
    from scipy.stats import binomtest, wilcoxon

    lines = [
        f"\nPaired by seed, text-to-image top-1 minus p = {arms[0][0]} ({arms[0][1]})'s:\n",
        "| setting | p | policy | per-seed differences | mean | seeds better | Wilcoxon p | sign test p |",
        "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for setting in settings:
        base = {r["seed"]: _top1(r, label) for r in runs if r["setting"] == setting and _arm(r) == arms[0]}
        for arm in arms[1:]:
            other = {r["seed"]: _top1(r, label) for r in runs if r["setting"] == setting and _arm(r) == arm}
            diffs = [other[s] - base[s] for s in sorted(base) if s in other]
            if not diffs:
                continue  # a cell not run yet (an interrupted --resume)
            nonzero = [d for d in diffs if d != 0]
            level = len(diffs) - len(nonzero)
            better = f"{sum(d > 0 for d in diffs)} of {len(diffs)}" + (f", {level} level" if level else "")
            # a test needs seeds that differ: "-" where too few do (an arm that masked nothing equals p = 0)
            w = f"{wilcoxon(nonzero).pvalue:.3f}" if len(nonzero) >= 2 else "-"
            sign = f"{binomtest(sum(d > 0 for d in nonzero), len(nonzero)).pvalue:.3f}" if nonzero else "-"
            shown = ", ".join(f"{d:+.1f}" for d in diffs)
            lines.append(
                f"| {setting} | {arm[0]} | {arm[1]} | {shown} | {sum(diffs) / len(diffs):+.1f} | "
                f"{better} | {w} | {sign} |"
            )
    return "\n".join(lines)


def _mean_cells(chosen: list[dict], label: str) -> str:
    """Mean percent top-k of the runs, paired target, both directions, as Markdown cells."""
    cells = []
    for direction in ("text_to_image", "image_to_text"):
        for k in ("top1", "top5", "top10"):
            values = [RetrievalReport(r[label]).top(direction)[k] for r in chosen]
            cells.append(f"{sum(values) / len(values):.1f}")
    return " | ".join(cells)


if __name__ == "__main__":
    main()
