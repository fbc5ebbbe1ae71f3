"""The main job end to end on the embedded default: ``nft1000 demo``.

Synthesises a small NFT1000-like release, builds and exports it, separates the training collections'
components, fine-tunes a tiny CLIP with dynamic masking and without, evaluates top-1/5/10 (whole split and per
collection) and CVI on the test collections, and prints one comparison table. Then the setting where the paper's
claim is tested, on a real-like synthetic collection of its own (hundreds of trait values, resampled pixel art,
NFT1000's shape; the easy collections' few values are learnt from any hundred pairs): few training pairs,
evaluated on held-out tokens of that collection (trait combinations never seen, traits seen;
`evaluation.protocols`), with ``train_clip.py``'s default masking (the ``scarcity`` policy, p = 0.3) and without,
at a scarce budget and a larger one, for several paired seeds (a seed fixes the subset, initialisation and data
order for both). Where the policy masks nothing (every collection's components carried by enough pairs) its run
is the p = 0 run: the demo says so instead of training it twice. Each stage records that it finished
(``OUT/stages.json``, with its settings); a rerun with the same settings reuses finished stages.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm.auto import tqdm

from modeling.masking.policy import (
    DEFAULT_MASK_PROB,
    MASKING_FILE,
    RECOMMENDED_MASK_PROB,
    RECOMMENDED_POLICY,
    SCARCITY_THRESHOLD,
    scarcity_record,
    scarcity_scales,
)
from nft1000_io.atomic import atomic_write_text
from nft1000_io.stages import Stages
from nft1000_io.text import markdown_cell


@dataclass(frozen=True)
class DemoSize:
    collections: int
    tokens: int
    steps: int
    batch_size: int
    scarce_tokens: int  # tokens of the real-like collection of the budget comparison
    scarce_budgets: tuple[int, ...]  # its training pairs: a scarce budget, then a larger one
    scarce_steps: int
    seeds: int  # paired seeds of the budget comparison

    def settings(self) -> dict:
        """As ``stages.json`` stores them (JSON: lists, not tuples), with the default masking the comparison runs."""
        masking = {"policy": RECOMMENDED_POLICY, "mask_prob": RECOMMENDED_MASK_PROB, "threshold": SCARCITY_THRESHOLD}
        return {**asdict(self), "scarce_budgets": list(self.scarce_budgets), "default_masking": masking}


SIZES = {  # tiny is the tests' size: about a minute
    "tiny": DemoSize(4, 60, 20, 16, scarce_tokens=120, scarce_budgets=(24, 64), scarce_steps=8, seeds=2),
    "small": DemoSize(6, 300, 120, 32, scarce_tokens=500, scarce_budgets=(100, 300), scarce_steps=100, seeds=3),
    "default": DemoSize(10, 500, 120, 32, scarce_tokens=700, scarce_budgets=(100, 300), scarce_steps=200, seeds=3),
}
ARMS = ("p0", "default")  # the budget comparison: no masking, and train_clip.py's default masking
ARM_LABELS = {"p0": "p = 0", "default": "default masking"}
HELD_OUT_SHARE = 0.2  # of the real-like collection's tokens, never trained on in the data-scarce comparison
SCARCE_IMAGE_SIZE = 32  # the data-scarce runs' tiny CLIP works at 32 px: three seeds fit the demo's budget


class DemoPlan:
    """The demo's stages under `out`, each a (name, job) for `Stages.run`: the commands go through `cli`
    (``nft1000.cli.main``, passed in so that the demo does not import the command line that imports it), the
    training runs through `train_clip.main`."""

    def __init__(self, cli: Callable[[list[str]], int], out: Path, spec: DemoSize, seed: int, num_proc: int):
        self.cli, self.out, self.spec, self.seed, self.num_proc = cli, out, spec, seed, num_proc
        self.data = out / "nft1000"
        self.models = {"masked": out / "clip-masked", "plain": out / "clip-plain"}
        self.real_like = real_like_dir(out)

    def command(self, *argv: str) -> Callable[[], None]:
        def job() -> None:
            if self.cli(list(argv)) != 0:
                raise RuntimeError(f"nft1000 {argv[0]} failed (see above)")

        return job

    def train_config(self, dataset: Path, output_dir: Path, steps: int, run_seed: int, **settings):
        """A demo training run (`train_clip.TrainingConfig`): the tiny CLIP on the mini config, no evaluation."""
        from nft1000.train_clip import TrainingConfig

        return TrainingConfig.of(
            dataset_name=str(dataset), dataset_config_name="mini", model_name_or_path="tiny",
            output_dir=str(output_dir), max_train_steps=steps, seed=run_seed,
            per_device_train_batch_size=self.spec.batch_size, learning_rate=5e-4, num_warmup_steps=steps // 10,
            dataloader_num_workers=1, eval_split="", dataloader_persistent_workers=True, report_to="none",
            logging_steps=max(1, steps // 10), **settings,
        )  # fmt: skip

    def train(self, *config, **settings) -> Callable[[], None]:
        from nft1000.train_clip import run

        return lambda: run(self.train_config(*config, **settings))

    def budget_run(self, pairs: int, arm: str, run_seed: int) -> Callable[[], None]:
        """One run of the budget comparison; the default arm is not trained where its policy masks nothing."""
        from nft1000.train_clip import planned_occurrences, run

        run_dir = scarce_dir(self.out, pairs, arm, run_seed)
        masking = {"mask_prob": 0.0} if arm == "p0" else {}
        config = self.train_config(self.real_like, run_dir, self.spec.scarce_steps, run_seed,
                                   max_train_samples=pairs, holdout_tokens=HELD_OUT_SHARE,
                                   tiny_image_size=SCARCE_IMAGE_SIZE, **masking)  # fmt: skip

        def job() -> None:
            occurrences = planned_occurrences(config)
            if occurrences is not None and not any(scarcity_scales(occurrences).values()):
                run_dir.mkdir(parents=True, exist_ok=True)  # the record of why it is the p = 0 run
                atomic_write_text(run_dir / MASKING_FILE, json.dumps(scarcity_record(occurrences), indent=2))
                return
            run(config)

        return job

    def prepare(self, label: str, synth: Path, export: Path, synth_options: tuple, build_options: tuple) -> list:
        """Stages that synthesise, build and export a release and separate its training collections' components."""
        n, command = str(self.num_proc), self.command
        return [
            (f"synthesise{label}", command("synth", "--out", str(synth), "--seed", str(self.seed), "--num-proc", n,
                                           *synth_options)),
            (f"build{label}", command("build", "--raw", str(synth / "release"), "--out", str(export),
                                      "--num-proc", n, "--overwrite", *build_options)),
            (f"components{label}", command("components", "--dataset", str(export), "--split", "train",
                                           "--out", str(export), "--num-proc", n)),
        ]  # fmt: skip

    def jobs(self) -> list:
        """Every stage, in order: the unseen-collection comparison, then the budget comparison."""
        spec, out, seed, models, data = self.spec, self.out, self.seed, self.models, self.data
        masked, plain = str(models["masked"]), str(models["plain"])
        easy = ("--collections", str(spec.collections), "--tokens", str(spec.tokens))
        one_real_like = ("--collections", "1", "--tokens", str(spec.scarce_tokens), "--style", "real-like",
                         "--variant", "resampled")  # fmt: skip
        jobs = [
            *self.prepare("", out / "synth", data, easy, ("--min-tokens", str(min(500, spec.tokens)))),
            ("train with masking", self.train(data, models["masked"], spec.steps, seed, mask_prob=DEFAULT_MASK_PROB,
                                              mask_policy="constant")),
            ("train without masking", self.train(data, models["plain"], spec.steps, seed, mask_prob=0.0)),
            ("evaluate", self.command("eval", "--model", masked, "--model", plain, "--dataset", str(data),
                                      "--config", "mini", "--output-dir", str(out / "eval"), "--cache-dir",
                                      str(out / "embeddings"), "--update-model-card")),
            ("cvi", self.command("cvi", "--model", masked, "--dataset", str(data), "--config", "mini",
                                 "--output-dir", str(out / "cvi"), "--cache-dir", str(out / "embeddings"))),
            *self.prepare(" real-like", out / "synth-real-like", self.real_like, one_real_like,
                          ("--min-tokens", str(min(500, spec.scarce_tokens)), "--split-ratios", "1", "0", "0")),
        ]  # fmt: skip
        return jobs + [
            (f"{pairs} pairs, {ARM_LABELS[arm]}, seed {run_seed}", self.budget_run(pairs, arm, run_seed))
            for pairs in spec.scarce_budgets
            for run_seed in range(seed, seed + spec.seeds)
            for arm in ARMS
        ]

    def written(self) -> dict[str, Path]:
        out = self.out
        return {
            "exported dataset": self.data,
            "component sheets": self.data / "component_sheets",
            "model with masking": self.models["masked"],
            "model without masking": self.models["plain"],
            "retrieval report": out / "eval" / "retrieval.md",
            "CVI report": out / "cvi" / "cvi.md",
            "real-like export": self.real_like,
            "budget comparison runs": out / "data-scarce",
            "comparison table": out / "demo.md",
        }


def run_demo(
    cli: Callable[[list[str]], int], out: Path, size: str = "default", seed: int = 0, num_proc: int = 2
) -> dict:
    """Run (or resume) every stage under `out` (`DemoPlan`); returns the paths written and the table."""
    spec = SIZES[size]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plan = DemoPlan(cli, out, spec, seed, num_proc)
    stages = Stages(out, {"size": spec.settings(), "seed": seed})
    jobs = plan.jobs()
    with tqdm(total=len(jobs), desc="demo", unit="stage", position=0, disable=None) as progress:
        for name, job in jobs:
            stages.run(name, job, progress)
    table = comparison_table(out, plan.models) + "\n" + scarce_table(out, spec, range(seed, seed + spec.seeds))
    atomic_write_text(out / "demo.md", table)
    return {"table": table, "written": plan.written()}


def comparison_table(out: Path, models: dict[str, Path]) -> str:
    """Test-split top-k of both models side by side, and the CVI of each test collection (masked model)."""
    from evaluation.report import load_retrieval

    reports = load_retrieval(out / "eval")
    cvi = json.loads((out / "cvi" / "cvi.json").read_text())
    lines = [
        "| model | t2i top1 | t2i top5 | t2i top10 | i2t top1 | i2t top5 | i2t top10 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, path in (
        (f"tiny CLIP, dynamic masking p = {DEFAULT_MASK_PROB}", models["masked"]),
        ("tiny CLIP, no masking", models["plain"]),
    ):
        report = reports[str(path)]
        cells = [f"{value:.1f}" for d in ("text_to_image", "image_to_text") for value in report.top(d).values()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if cvi["per_collection"]:
        lines += ["", "| test collection (model with masking) | pairs | CVI | t2i top10 within it |"]
        lines.append("| --- | ---: | ---: | ---: |")
        for name, row in cvi["per_collection"].items():
            lines.append(f"| {markdown_cell(name)} | {row['rows']} | {row['cvi']:.4f} | {row['top10']:.1f} |")
    return "\n".join(lines) + "\n"


def real_like_dir(out: Path) -> Path:
    return out / "nft1000-real-like"


def scarce_dir(out: Path, pairs: int, arm: str, seed: int) -> Path:
    return out / "data-scarce" / f"{pairs}-pairs-{arm}-seed{seed}"


def scarce_table(out: Path, spec: DemoSize, seeds: range) -> str:
    """The budget comparison on held-out tokens: for each budget, what the default policy decided, then
    text-to-image top-1/10 per seed with and without it, the paired difference, and the mean and spread."""
    from evaluation.protocols import HELD_OUT_TOKENS

    report = json.loads((real_like_dir(out) / "components_report.json").read_text())
    separated = ", ".join(f"{name}: {row['components']} components" for name, row in report.items())
    lines = [
        f"Budgets, on a real-like collection ({spec.scarce_tokens} tokens, resampled pixel art; {separated}): "
        f"train_clip.py's default masking ({RECOMMENDED_POLICY} policy, p = {RECOMMENDED_MASK_PROB}) against none, "
        f"{spec.scarce_steps} steps, evaluated on its held-out tokens ({HELD_OUT_SHARE:.0%}, never trained on), "
        "text-to-image percent:",
    ]
    for pairs in spec.scarce_budgets:
        lines += ["", *_budget_block(out, pairs, seeds, f"fine-tuned, {HELD_OUT_TOKENS}")]
    return "\n".join(lines) + "\n"


def _budget_block(out: Path, pairs: int, seeds: range, label: str) -> list[str]:
    decisions = _decisions([scarce_dir(out, pairs, "default", seed) for seed in seeds])
    intact = not any((scarce_dir(out, pairs, "default", seed) / "eval_results.json").is_file() for seed in seeds)
    same = ": its runs are the p = 0 runs, not trained twice" if intact else ""
    lines = [
        f"{pairs} training pairs; the policy {decisions}{same}:",
        "",
        "| seed | p = 0 top1 | default top1 | difference | p = 0 top10 | default top10 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    columns: dict[str, list[float]] = {"plain1": [], "masked1": [], "diff": [], "plain10": [], "masked10": []}
    for seed in seeds:
        plain = _held_out_top(scarce_dir(out, pairs, "p0", seed), label)
        default = scarce_dir(out, pairs, "default", seed)
        masked = _held_out_top(default, label) if (default / "eval_results.json").is_file() else plain
        row = {"plain1": plain["top1"], "masked1": masked["top1"], "diff": masked["top1"] - plain["top1"]}
        row |= {"plain10": plain["top10"], "masked10": masked["top10"]}
        for key, value in row.items():
            columns[key].append(value)
        lines.append(f"| {seed} | " + " | ".join(_signed(key, v) for key, v in row.items()) + " |")
    for name, summary in (("mean", lambda v: sum(v) / len(v)), ("min", min), ("max", max)):
        lines.append(f"| {name} | " + " | ".join(_signed(key, summary(v)) for key, v in columns.items()) + " |")
    diffs = columns["diff"]
    lines += ["", f"default ahead on {sum(d > 0 for d in diffs)}, level on {sum(d == 0 for d in diffs)} "
              f"of {len(diffs)} seeds (top-1)"]  # fmt: skip
    return lines


def _decisions(runs: list[Path]) -> str:
    """What the scarcity policy did with each collection over the seeds' runs, from their ``masking.json``."""
    seen: dict[str, list[dict]] = {}
    for run in runs:
        for name, row in json.loads((run / MASKING_FILE).read_text())["collections"].items():
            seen.setdefault(name, []).append(row)
    said = []
    for name, rows in seen.items():
        counts = [row["carried_occurrences"] for row in rows if row["carried_occurrences"] is not None]
        ends = sorted({f"{count:.1f}" for count in (min(counts), max(counts))}, key=float) if counts else []
        carried = f"components carried by {'-'.join(ends)} pairs each" if counts else "no components"
        masked = sum(row["masked"] for row in rows)
        if masked in (0, len(rows)):
            verdict = f"{'masked' if masked else 'left'} {name}{'' if masked else ' intact'} in all {len(rows)} seeds"
        else:
            verdict = f"masked {name} in {masked} of {len(rows)} seeds"
        said.append(f"{verdict} ({carried})")
    return ", ".join(said)


def _held_out_top(run: Path, label: str) -> dict[str, float]:
    from evaluation.report import load_retrieval

    return load_retrieval(run / "eval_results.json")[label].top("text_to_image")


def _signed(key: str, value: float) -> str:
    return f"{value:+.1f}" if key == "diff" else f"{value:.1f}"
