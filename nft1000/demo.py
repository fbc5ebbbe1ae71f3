"""The main job end to end on the embedded default: ``nft1000 demo``.

Synthesises a small NFT1000-like release, builds and exports it, separates the training collections'
components, fine-tunes a tiny CLIP with dynamic masking and without, evaluates top-1/5/10 (whole split and per
collection) and CVI on the test collections, and prints one comparison table. Each stage records that it
finished (``OUT/stages.json``, with its settings); a rerun with the same settings reuses finished stages.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm.auto import tqdm

from nft1000_dataset.atomic import atomic_write_text


@dataclass(frozen=True)
class DemoSize:
    collections: int
    tokens: int
    steps: int
    batch_size: int


SIZES = {
    "tiny": DemoSize(collections=4, tokens=60, steps=20, batch_size=16),  # the tests' size: about a minute
    "small": DemoSize(collections=6, tokens=300, steps=120, batch_size=32),
    "default": DemoSize(collections=10, tokens=500, steps=300, batch_size=32),
}
MASK_PROB = 0.5


class Stages:
    """Which stages finished, with which settings (``stages.json``): a stage whose settings match is skipped."""

    def __init__(self, out: Path, settings: dict):
        self.path, self.settings = out / "stages.json", settings
        self.done = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def run(self, name: str, job: Callable[[], None], progress: tqdm) -> None:
        progress.set_description(name)
        if self.done.get(name, {}).get("settings") == self.settings:
            progress.write(f"{name}: done before, reused")
        else:
            start = time.perf_counter()
            job()
            self.done[name] = {"settings": self.settings, "seconds": round(time.perf_counter() - start, 1)}
            atomic_write_text(self.path, json.dumps(self.done, indent=2))
        progress.update(1)


def run_demo(out: Path, size: str = "default", seed: int = 0, num_proc: int = 2) -> dict:
    """Run (or resume) every stage under `out`; returns the paths written and the comparison table."""
    from nft1000.cli import main as cli

    spec = SIZES[size]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data, models = out / "nft1000", {"masked": out / "clip-masked", "plain": out / "clip-plain"}
    stages = Stages(out, {"size": asdict(spec), "seed": seed})
    min_tokens = str(min(500, spec.tokens))

    def command(*argv: str) -> Callable[[], None]:
        def job() -> None:
            if cli(list(argv)) != 0:
                raise RuntimeError(f"nft1000 {argv[0]} failed (see above)")

        return job

    def train(name: str, mask_prob: float) -> Callable[[], None]:
        from nft1000.train_clip import main as train_clip

        argv = [
            "--dataset", str(data), "--config", "mini", "--model", "tiny", "--output-dir", str(models[name]),
            "--mask-prob", str(mask_prob), "--max-train-steps", str(spec.steps), "--seed", str(seed),
            "--per-device-train-batch-size", str(spec.batch_size), "--learning-rate", "5e-4",
            "--warmup-steps", str(spec.steps // 10), "--dataloader-num-workers", "1", "--eval-split", "",
            "--report-to", "none", "--logging-steps", str(max(1, spec.steps // 10)),
        ]  # fmt: skip
        return lambda: train_clip(argv)

    release, n = str(out / "synth" / "release"), str(num_proc)
    masked, plain = str(models["masked"]), str(models["plain"])
    jobs = [
        ("synthesise", command("synth", "--out", str(out / "synth"), "--collections", str(spec.collections),
                               "--tokens", str(spec.tokens), "--seed", str(seed), "--num-proc", n)),
        ("build", command("build", "--raw", release, "--out", str(data), "--min-tokens", min_tokens,
                          "--num-proc", n, "--overwrite")),
        ("components", command("components", "--dataset", str(data), "--split", "train", "--out", str(data),
                               "--num-proc", n)),
        ("train with masking", train("masked", MASK_PROB)),
        ("train without masking", train("plain", 0.0)),
        ("evaluate", command("eval", "--model", masked, "--model", plain, "--dataset", str(data),
                             "--config", "mini", "--output-dir", str(out / "eval"))),
        ("cvi", command("cvi", "--model", masked, "--dataset", str(data), "--config", "mini",
                        "--output-dir", str(out / "cvi"))),
    ]  # fmt: skip
    with tqdm(total=len(jobs), desc="demo", unit="stage", position=0) as progress:
        for name, job in jobs:
            stages.run(name, job, progress)
    table = comparison_table(out, models)
    atomic_write_text(out / "demo.md", table)
    written = {
        "exported dataset": data,
        "component sheets": data / "component_sheets",
        "model with masking": models["masked"],
        "model without masking": models["plain"],
        "retrieval report": out / "eval" / "retrieval.md",
        "CVI report": out / "cvi" / "cvi.md",
        "comparison table": out / "demo.md",
    }
    return {"table": table, "written": written}


def comparison_table(out: Path, models: dict[str, Path]) -> str:
    """Test-split top-k of both models side by side, and the CVI of each test collection (masked model)."""
    reports = json.loads((out / "eval" / "retrieval.json").read_text())
    cvi = json.loads((out / "cvi" / "cvi.json").read_text())
    lines = [
        "| model | t2i top1 | t2i top5 | t2i top10 | i2t top1 | i2t top5 | i2t top10 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, path in (
        ("tiny CLIP, dynamic masking p = 0.5", models["masked"]),
        ("tiny CLIP, no masking", models["plain"]),
    ):
        whole = reports[str(path)]["whole_split"]
        cells = [
            f"{whole[d]['paired'][k]:.1f}"
            for d in ("text_to_image", "image_to_text")
            for k in ("top1", "top5", "top10")
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if cvi["per_collection"]:
        lines += ["", "| test collection (model with masking) | pairs | CVI | t2i top10 within it |"]
        lines.append("| --- | ---: | ---: | ---: |")
        for name, row in cvi["per_collection"].items():
            lines.append(f"| {name} | {row['rows']} | {row['cvi']:.4f} | {row['top10']:.1f} |")
    return "\n".join(lines) + "\n"
