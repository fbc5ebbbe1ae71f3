"""What the training scripts share: the Accelerator set-up, resuming from and writing checkpoints, the epochs and
the step bar with its log, the best weights, hyper-parameters as tracker scalars, and the end of a run (card,
push)."""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import datasets
import torch
import transformers
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, set_seed
from tqdm.auto import tqdm

from nft1000_io.atomic import atomic_write_text, share_weights
from nft1000_io.hub import upload_folder_to_hub
from nft1000_io.output_folder import claim_output_folder
from nft1000_io.text import configure_logging

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_step(path: str | Path) -> int:
    match = CHECKPOINT_PATTERN.match(Path(path).name)
    if match is None:
        raise ValueError(f"{path}: not a checkpoint folder (expected checkpoint-<step>)")
    return int(match.group(1))


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Checkpoint folders in `output_dir`, oldest step first."""
    folder = Path(output_dir)
    found = [p for p in folder.iterdir() if p.is_dir() and CHECKPOINT_PATTERN.match(p.name)] if folder.is_dir() else []
    return sorted(found, key=checkpoint_step)


def resolve_checkpoint(resume_from_checkpoint: str, output_dir: str | Path) -> Path | None:
    """``latest`` is the newest checkpoint in `output_dir` (None when there is none yet), else the path."""
    if resume_from_checkpoint == "latest":
        found = list_checkpoints(output_dir)
        return found[-1] if found else None
    path = Path(resume_from_checkpoint)
    if not path.is_dir():
        raise FileNotFoundError(f"--resume_from_checkpoint {path}: no such checkpoint folder")
    checkpoint_step(path)
    return path


def prune_checkpoints(output_dir: str | Path, keep: int | None) -> None:
    """Delete the oldest checkpoints so that at most `keep` remain."""
    if keep is None:
        return
    for old in list_checkpoints(output_dir)[: -keep or None]:
        shutil.rmtree(old)


# what an earlier run left in its output_dir: resumable, not refused (a script adds its own, `start_run`)
STEP_LOG = "train_log.jsonl"
RUN_FILES = (STEP_LOG, "checkpoint-*", ".checkpoint-*", "config.json", "*.safetensors")
# a field named with one of these words (hub_token, api_key, wandb_secret, db_password) is never written anywhere,
# as transformers' to_dict hides *_token; counts such as holdout_tokens are not secrets
SECRET_WORDS = frozenset({"token", "key", "secret", "password"})


@dataclass(kw_only=True)
class TrackingAndHubArguments:
    """The arguments both training scripts take for trackers and the Hub, as the HF example scripts name them
    (keyword-only, so that a script's own required fields may follow)."""

    report_to: str = field(default="tensorboard", metadata={"help": "accelerate tracker(s), `all` or `none`"})
    push_to_hub: bool = False
    hub_model_id: str | None = None
    hub_token: str | None = field(
        default=None, repr=False, metadata={"help": "Hub token (prefer HF_TOKEN or `hf auth login`); never written out"}
    )
    hub_private_repo: bool = False


def is_secret(field_name: str) -> bool:
    """Whether a field holds a credential: one of `SECRET_WORDS` among the words of its name."""
    return not SECRET_WORDS.isdisjoint(field_name.lower().split("_"))


def scalar_config(*groups) -> dict:
    """The fields of argument dataclasses as tracker-friendly scalars (anything else as its string), every secret
    field (`is_secret`) replaced by a placeholder (``<HUB_TOKEN>``): this dict goes into trackers and model cards."""
    flat = {}
    for group in groups:
        for key, value in asdict(group).items():
            if is_secret(key) and value is not None:
                value = f"<{key.upper()}>"
            flat[key] = value if isinstance(value, int | float | str | bool) else str(value)
    return flat


class TrainLog:
    """Every logged step as a JSON line in ``path`` (written by the main process only)."""

    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled = path, enabled

    def write(self, record: dict) -> None:
        if self.enabled:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")

    def log_step(self, accelerator: Accelerator, record: dict) -> None:
        """`record` (with its ``step``) to the trackers as ``train/<key>`` and to the JSON-lines file."""
        step = record["step"]
        accelerator.log({f"train/{k}": v for k, v in record.items() if k != "step"}, step=step)
        self.write(record)


def parse_script_args(parser: transformers.HfArgumentParser, argv: list[str] | None) -> tuple:
    """The script's dataclasses from `argv`, or from a JSON file when it is the only argument (as the example
    scripts take ``train.py args.json``); an unknown flag or key is reported with the script's usage (exit 2), as
    argparse reports it, instead of HfArgumentParser's traceback."""
    if argv is not None and len(argv) == 1 and argv[0].endswith(".json"):
        try:
            return tuple(parser.parse_json_file(argv[0]))
        except ValueError as err:  # keys that no argument has
            parser.error(f"{argv[0]}: {err}")
    *parsed, unknown = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return tuple(parsed)


@contextmanager
def removed_if_left_empty(output_dir: Path) -> Iterator[None]:
    """A run that fails before writing any file leaves no output folder behind (only a folder it created)."""
    existed = output_dir.exists()
    try:
        yield
    except BaseException:
        if not existed and output_dir.is_dir() and not any(p.is_file() for p in output_dir.rglob("*")):
            shutil.rmtree(output_dir, ignore_errors=True)
        raise


def start_run(
    output_dir: Path,
    seed: int,
    overwrite_output_dir: bool = False,
    own_files: tuple[str, ...] = (),
    **accelerator_kwargs,
) -> Accelerator:
    """The Accelerator of a training script (seedable sampler, `output_dir` as project dir), logging set up,
    libraries quiet on every process but the local main one, seeds set and `output_dir` created; a non-empty
    `output_dir` holding nothing of an earlier run (`RUN_FILES` and the script's `own_files`) is refused unless
    `overwrite_output_dir`."""
    if not overwrite_output_dir:
        claim_output_folder(output_dir, (*RUN_FILES, *own_files), "training run", flag="--overwrite_output_dir")
    accelerator = Accelerator(
        project_dir=str(output_dir),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
        **accelerator_kwargs,
    )
    configure_logging("%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not accelerator.is_local_main_process:
        datasets.utils.logging.set_verbosity_error()
        transformers.utils.logging.set_verbosity_error()
    set_seed(seed)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    return accelerator


def resume(
    accelerator: Accelerator, checkpoint: str | None, output_dir: Path, steps_per_epoch: int | None, accumulation: int
) -> tuple[int, int, int]:
    """Load the state of `checkpoint` (a folder or ``latest``; None: start afresh, with a new step log) and return
    where the run stands: (completed optimizer steps, epoch, batches of that epoch to skip). A stream has no
    epochs."""
    found = resolve_checkpoint(checkpoint, output_dir) if checkpoint else None
    if found is None:
        if accelerator.is_main_process:
            (output_dir / STEP_LOG).unlink(missing_ok=True)  # an earlier run's, under --overwrite_output_dir
        return 0, 0, 0
    accelerator.print(f"resuming from {found}")
    accelerator.load_state(str(found))
    steps = checkpoint_step(found)
    if not steps_per_epoch:
        return steps, 0, steps * accumulation
    return steps, steps // steps_per_epoch, (steps % steps_per_epoch) * accumulation


def checkpoint_if_due(
    accelerator: Accelerator, output_dir: Path, step: int, every: int | None, keep: int | None
) -> None:
    """``save_state`` to ``output_dir/checkpoint-<step>`` every `every` steps, keeping the newest `keep`. The
    state is written into a hidden partial folder and renamed when complete: a run killed while saving leaves
    no half-written checkpoint for ``--resume_from_checkpoint latest`` to pick."""
    if not every or step % every:
        return
    final, partial = output_dir / f"checkpoint-{step}", output_dir / f".checkpoint-{step}.partial"
    if accelerator.is_main_process and partial.exists():
        shutil.rmtree(partial)  # left by a run killed while saving
    accelerator.wait_for_everyone()
    try:
        accelerator.save_state(str(partial))
    except (OSError, RuntimeError) as err:  # torch reports a failed write (a full disk) as a RuntimeError
        reason = write_failure(err, output_dir)
        shutil.rmtree(partial, ignore_errors=True)
        raise OSError(f"cannot write the checkpoint {final}: {reason}") from err
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        share_weights(partial)
        if final.exists():
            shutil.rmtree(final)
        partial.rename(final)
        prune_checkpoints(output_dir, keep)
    accelerator.wait_for_everyone()


def write_failure(err: BaseException, folder: Path) -> str:
    """Why a write into `folder` failed: the system's reason where an OSError stands in the exception's chain,
    a full disk where under 1 MiB is left (torch's writer reports one as an "unexpected pos"), else the error."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno:
            return os.strerror(seen.errno)
        seen = seen.__cause__ or seen.__context__
    free = shutil.disk_usage(folder).free
    return f"{os.strerror(errno.ENOSPC)} ({free} bytes free)" if free < 2**20 else str(err)


class BestWeights:
    """The model's weights at its best validation score so far, copied to CPU memory (``--load_best_model_at_end``,
    as the Trainer's; a resumed run tracks afresh from where it resumes)."""

    def __init__(self) -> None:
        self.score, self.step, self.state = float("-inf"), None, None

    def offer(self, model: torch.nn.Module, score: float, step: int) -> bool:
        """Keep the weights if `score` beats the best so far (the earliest step wins a tie); whether it did."""
        if score <= self.score:
            return False
        self.score, self.step = score, step
        self.state = {name: tensor.detach().to("cpu", copy=True) for name, tensor in model.state_dict().items()}
        return True

    def restore(self, model: torch.nn.Module) -> int | None:
        """Load the best weights into `model`; the step they are from (None: nothing was offered)."""
        if self.state is not None:
            model.load_state_dict(self.state)
        return self.step


def epochs(accelerator: Accelerator, loader, collator, epoch: int, skip_batches: int) -> Iterator[tuple[int, Iterable]]:
    """(epoch, its batches) from `epoch` on, with the collator's and the loader's epoch set, and in a resumed
    epoch its first `skip_batches` batches skipped; endless, the caller stops at its step budget."""
    while True:
        collator.set_epoch(epoch)
        loader.set_epoch(epoch)
        yield epoch, accelerator.skip_first_batches(loader, skip_batches) if skip_batches else loader
        skip_batches = 0
        epoch += 1


class StepProgress:
    """The tqdm bar of optimizer steps, and the mean loss since the last record written to the trackers and the
    step log every `logging_steps` steps and at the last one."""

    def __init__(self, accelerator: Accelerator, log: TrainLog, total: int, initial: int, logging_steps: int):
        self.accelerator, self.log, self.total, self.logging_steps = accelerator, log, total, logging_steps
        disable = None if accelerator.is_local_main_process else True
        self.bar = tqdm(total=total, initial=initial, disable=disable, desc="steps")
        self.started, self.first_step = time.perf_counter(), initial
        self.loss, self.batches = 0.0, 0

    def add_loss(self, loss) -> None:
        """One batch's loss (a tensor stays on its device: read back only when a record is written)."""
        self.loss += loss.detach() if isinstance(loss, torch.Tensor) else loss
        self.batches += 1

    def step(self, step: int, epoch: int, values: Callable[[], dict] | None = None) -> None:
        """An optimizer step completed; a record when one is due, with what `values` returns then (read only
        when a record is written: a value read back from the GPU costs a synchronisation)."""
        self.bar.update(1)
        if step % self.logging_steps and step != self.total:
            return
        seconds = time.perf_counter() - self.started
        loss = float(self.loss) / max(self.batches, 1)
        record = {"step": step, "epoch": epoch, "loss": loss, **(values() if values else {})}
        record["steps_per_second"] = (step - self.first_step) / seconds
        self.log.log_step(self.accelerator, record)
        self.bar.set_postfix(loss=f"{loss:.4f}")
        self.loss, self.batches = 0.0, 0

    def close(self) -> float:
        """Seconds since the bar started."""
        self.bar.close()
        return time.perf_counter() - self.started


def publish(
    output_dir: Path, card, args: TrackingAndHubArguments, ignore_patterns: list[str], commit_message: str
) -> str | None:
    """The end of a run on the main process: the model card written beside the weights, and the folder pushed
    when ``--push_to_hub`` (to ``--hub_model_id``, else the folder's name); the repo's URL or None."""
    atomic_write_text(output_dir / "README.md", str(card))
    logging.getLogger(__name__).info("saved the weights and the model card to %s", output_dir)
    if not args.push_to_hub:
        return None
    url = upload_folder_to_hub(
        output_dir,
        args.hub_model_id or output_dir.name,
        repo_type="model",
        token=args.hub_token,
        private=args.hub_private_repo,
        ignore_patterns=ignore_patterns,
        commit_message=commit_message,
    )
    logging.getLogger(__name__).info("pushed to %s", url)
    return url
