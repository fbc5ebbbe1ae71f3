"""train_clip.py end to end on a real synthetic export with its component library, the 2-process
global-batch loss, and `nft1000 eval` on the saved model."""

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import FAKE_HUB_TOKEN, files_containing, recorded_hub_pushes
from datasets import load_dataset
from huggingface_hub import ModelCard
from transformers import CLIPModel, CLIPProcessor

from evaluation.embeddings import encode_split
from nft1000.cli import main as cli_main
from nft1000.train_clip import evaluate_model
from nft1000.train_clip import main as train_main

pytestmark = pytest.mark.slow
STEPS, CHECKPOINT_AT = 24, 12


def train_args(dataset: Path, output_dir: Path, *extra: str) -> list[str]:
    return [
        "--dataset", str(dataset), "--config", "full", "--model", "tiny", "--tiny-image-size", "32",
        "--output-dir", str(output_dir), "--per_device_train_batch_size", "16", "--max-train-steps", str(STEPS),
        "--learning_rate", "5e-4", "--warmup-steps", "2", "--logging_steps", "1", "--mask-prob", "0.5",
        "--checkpointing_steps", str(CHECKPOINT_AT), "--eval_split", "test", "--seed", "7", *extra,
    ]  # fmt: skip


def losses(output_dir: Path) -> dict[int, float]:
    lines = (output_dir / "train_log.jsonl").read_text().splitlines()
    return {record["step"]: record["loss"] for record in map(json.loads, lines) if "loss" in record}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, export_with_components):
    """One uninterrupted run with --push_to_hub and a --hub_token; the Hub's HTTP calls are recorded instead."""
    output_dir = tmp_path_factory.mktemp("train") / "clip-nft1000"
    extra = ("--push_to_hub", "--hub_model_id", "me/x", "--hub_token", FAKE_HUB_TOKEN)
    with recorded_hub_pushes() as pushed:
        results = train_main(train_args(export_with_components, output_dir, *extra))
    return output_dir, results, pushed


def test_a_short_run_lowers_the_loss_and_saves_everything(trained):
    output_dir, results, _ = trained
    by_step = losses(output_dir)
    assert sorted(by_step) == list(range(1, STEPS + 1))
    first, last = np.mean([by_step[s] for s in range(1, 5)]), np.mean([by_step[s] for s in range(STEPS - 3, STEPS + 1)])
    assert last < first - 0.1, by_step
    assert {"before training", "fine-tuned"} <= set(results)
    assert (output_dir / f"checkpoint-{CHECKPOINT_AT}").is_dir() and (output_dir / f"checkpoint-{STEPS}").is_dir()
    assert list((output_dir / "train_clip").rglob("events.out.tfevents*")), "no tensorboard log"
    card = ModelCard.load(output_dir / "README.md")
    assert card.data.library_name == "transformers"
    assert "p = 0.5" in card.text and "| fine-tuned | text to image | paired (paper) |" in card.text


def test_resuming_from_the_latest_checkpoint_reproduces_the_uninterrupted_run(trained, export_with_components):
    output_dir, _, _ = trained
    resumed = output_dir.parent / "resumed"
    resumed.mkdir()
    shutil.copytree(output_dir / f"checkpoint-{CHECKPOINT_AT}", resumed / f"checkpoint-{CHECKPOINT_AT}")
    args = train_args(export_with_components, resumed, "--resume-from-checkpoint", "latest", "--report_to", "none")
    train_main(args)
    expected = {step: loss for step, loss in losses(output_dir).items() if step > CHECKPOINT_AT}
    assert losses(resumed) == expected  # same data order, same masks, same optimizer state: exactly equal


def test_the_saved_folder_loads_with_from_pretrained_and_gives_the_same_embeddings(trained, export_with_components):
    output_dir, results, _ = trained
    model, processor = CLIPModel.from_pretrained(output_dir), CLIPProcessor.from_pretrained(output_dir)
    test = load_dataset(str(export_with_components), "full", split="test")
    assert evaluate_model(model, processor, test, batch_size=64) == results["fine-tuned"]
    rows = test.select(range(4))
    images, texts = encode_split(model, processor, rows)
    inputs = processor(text=list(rows["caption"]), images=list(rows["image"]), padding=True, return_tensors="pt")
    with torch.no_grad():
        plain_images = model.get_image_features(pixel_values=inputs["pixel_values"]).pooler_output
        plain_texts = model.get_text_features(input_ids=inputs["input_ids"]).pooler_output
    assert np.allclose(images, torch.nn.functional.normalize(plain_images, dim=-1).numpy(), atol=1e-5)
    assert np.allclose(texts, torch.nn.functional.normalize(plain_texts, dim=-1).numpy(), atol=1e-5)


def test_push_to_hub_uploads_the_model_folder_without_checkpoints(trained):
    output_dir, _, pushed = trained
    assert pushed["repo"] == ("me/x", "model")
    files = pushed["files"]
    assert {"config.json", "model.safetensors", "README.md", "processor_config.json", "tokenizer.json"} <= set(files)
    assert not any(name.startswith(("checkpoint-", "train_clip/")) for name in files)
    assert all(path.resolve().parent == output_dir.resolve() for path in files.values())
    assert pushed["card"] == (output_dir / "README.md").read_text()
    assert pushed["token"] == FAKE_HUB_TOKEN  # the token given is the token used


def test_the_hub_token_is_written_to_no_output_file(trained):
    output_dir, _, pushed = trained
    assert files_containing(output_dir, FAKE_HUB_TOKEN) == []  # card, tracker logs, train_log, checkpoints
    assert FAKE_HUB_TOKEN not in pushed["card"]
    assert "<HUB_TOKEN>" in (output_dir / "README.md").read_text()  # the hyper-parameter table says one was given


def test_offline_with_a_hub_model_name_is_a_clear_error(export_with_components, tmp_path):
    args = train_args(export_with_components, tmp_path / "out")
    args[args.index("tiny")] = "openai/clip-vit-base-patch32"
    with pytest.raises(RuntimeError, match="--model tiny"):
        train_main(args)


def launch_two_processes(script: Path, *args: str) -> None:
    """`accelerate launch --multi_gpu --num_processes 2` (on CPUs: gloo) on a free port."""
    for attempt in range(2):  # a port found free can be taken before the launcher binds it; then rank 1 waits
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
        launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
        process = subprocess.Popen(
            [*launch, "--main_process_port", str(port), str(script), *args], start_new_session=True
        )
        try:
            assert process.wait(timeout=240) == 0
            return
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the launcher and both ranks
            process.wait()
            if attempt == 1:
                raise


def test_two_processes_compute_the_loss_and_gradients_of_the_global_batch(tmp_path):
    out = tmp_path / "result.json"
    launch_two_processes(Path(__file__).with_name("distributed_loss_check.py"), str(out))
    result = json.loads(out.read_text())
    assert result["world_size"] == 2 and result["backend"] == "gloo"
    assert result["builtin_full_batch_loss"] == pytest.approx(result["reference_loss"], abs=1e-6)
    assert result["global_losses"] == pytest.approx([result["reference_loss"]] * 2, abs=1e-6)
    assert result["max_gradient_difference"] <= 1e-5 * max(1.0, result["max_gradient"])
    # what CLIPModel's own loss would have trained on: each process's half batch, a different loss
    assert all(abs(local - result["reference_loss"]) > 1e-3 for local in result["local_builtin_losses"])


def test_eval_command_writes_tables_and_reuses_cached_embeddings(trained, export_with_components, tmp_path, capsys):
    output_dir, _, _ = trained
    args = ["eval", "--model", str(output_dir), "--dataset", str(export_with_components), "--config", "full"]
    args += ["--split", "test", "--output-dir", str(tmp_path), "--cache-dir", str(tmp_path / "embeddings")]
    assert cli_main(args) == 0
    cached = list((tmp_path / "embeddings").glob("*.safetensors"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    report = json.loads((tmp_path / "retrieval.json").read_text())[str(output_dir)]
    assert set(report["per_collection"]) == set(
        load_dataset(str(export_with_components), "full", split="test")["collection"]
    )
    assert "## Within each collection" in (tmp_path / "retrieval.md").read_text()
    assert cli_main(args) == 0
    assert cached[0].stat().st_mtime_ns == stamp  # read back, not recomputed
    assert json.loads((tmp_path / "retrieval.json").read_text())[str(output_dir)] == report


def test_cvi_command_reports_collections_calibrates_alpha_and_reuses_the_eval_cache(
    trained, export_with_components, tmp_path
):
    output_dir, _, _ = trained
    common = ["--model", str(output_dir), "--dataset", str(export_with_components), "--config", "full"]
    common += ["--split", "train", "--cache-dir", str(tmp_path / "cache")]
    assert cli_main(["eval", *common, "--output-dir", str(tmp_path / "eval")]) == 0
    cached = sorted((tmp_path / "cache").iterdir())
    assert cli_main(["cvi", *common, "--output-dir", str(tmp_path / "cvi"), "--calibrate-alpha"]) == 0
    assert sorted((tmp_path / "cache").iterdir()) == cached  # the embeddings of `eval` were reused
    report = json.loads((tmp_path / "cvi" / "cvi.json").read_text())
    train = load_dataset(str(export_with_components), "full", split="train")
    assert set(report["per_collection"]) == set(train["collection"])
    values = [r["cvi"] for r in report["per_collection"].values()]
    assert values == sorted(values) and all(v > 0 for v in values)
    assert len(report["calibration"]["alphas"]) == 21
    assert set(report["spearman"]) == ({"top1", "top5", "top10"} if len(values) >= 3 else set())
    assert (tmp_path / "cvi" / "alpha_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_clip_on_two_processes(export_with_components, tmp_path):
    script = Path(__file__).resolve().parents[1] / "train_clip.py"
    args = train_args(export_with_components, tmp_path / "out", "--report_to", "none")
    args[args.index("--per_device_train_batch_size") + 1] = "8"  # 2 x 8: a global batch of 16
    args[args.index("--max-train-steps") + 1] = "4"
    args[args.index("--checkpointing_steps") + 1] = "2"
    launch_two_processes(script, *args)
    assert sorted(losses(tmp_path / "out")) == [1, 2, 3, 4]  # one process logs, once per step
    states = sorted(p.name for p in (tmp_path / "out" / "checkpoint-2").glob("random_states_*"))
    assert states == ["random_states_0.pkl", "random_states_1.pkl"]  # really two processes
    assert CLIPModel.from_pretrained(tmp_path / "out").config.projection_dim == 128


def test_streaming_training_runs_and_needs_a_step_budget_and_a_policy_without_epochs(export_with_components, tmp_path):
    args = train_args(export_with_components, tmp_path / "out", "--streaming", "--report_to", "none")
    with pytest.raises(ValueError, match=r"--mask_policy scarcity counts .* pass --mask_policy constant or mixed"):
        train_main(args)  # the default policy counts epochs and pairs
    args += ["--mask_policy", "constant"]
    args[args.index("--max-train-steps") : args.index("--max-train-steps") + 2] = []
    with pytest.raises(ValueError, match="--max_train_steps"):
        train_main(args)
    args += ["--max-train-steps", "3", "--checkpointing_steps", "0", "--eval_split", ""]
    assert train_main(args) == {"best_step": 3}  # no evaluation split: no evaluation results; the last weights
    assert sorted(losses(tmp_path / "out")) == [1, 2, 3]
    args[args.index("--max-train-steps") + 1] = "2"
    train_main([*args, "--overwrite_output_dir"])  # afresh into the same folder: a new step log, not appended
    lines = (tmp_path / "out" / "train_log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2]


def test_the_default_scarcity_policy_masks_a_collection_only_where_its_components_are_carried_by_few_pairs(
    export_with_components, tmp_path, caplog
):
    records = {}
    for samples in (16, 160):  # the first 16 of the same shuffled pairs, then 160
        out = tmp_path / str(samples)
        args = train_args(export_with_components, out, "--report_to", "none", "--max_train_samples", str(samples))
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="train_clip"):
            train_main([*args, "--max-train-steps", "1", "--checkpointing_steps", "0", "--eval_split", ""])
        record = records[samples] = json.loads((out / "masking.json").read_text())
        assert record["policy"] == "scarcity" and record["collections"]
        for name, decision in record["collections"].items():
            assert decision["masked"] == (decision["carried_occurrences"] < record["threshold"])
            verdict = "masked" if decision["masked"] else "intact"
            line = f"{name}: components carried by {decision['carried_occurrences']:.1f} training pairs each: {verdict}"
            assert line in caplog.text
        card = ModelCard.load(out / "README.md").text
        assert "under the `scarcity` policy" in card and all(name in card for name in record["collections"])
    few, many = (records[n]["collections"] for n in (16, 160))
    assert set(few) <= set(many)
    for name in few:  # more pairs of the same collection: each component carried more often, never masked anew
        assert many[name]["carried_occurrences"] > few[name]["carried_occurrences"]
        assert many[name]["masked"] <= few[name]["masked"]
    assert any(d["masked"] for d in few.values()), "16 pairs should leave some collection scarce"


def test_masking_without_a_component_library_names_the_command_to_run(exported, tmp_path):
    out, _ = exported  # the export without its components config
    with pytest.raises(FileNotFoundError, match="nft1000 components"):
        train_main(train_args(out, tmp_path / "out", "--report_to", "none"))


def test_masking_says_which_training_collections_it_can_mask_and_refuses_none(exported, separated, tmp_path, caplog):
    from modeling.images import RowImages
    from modeling.separation.library import save_library
    from modeling.separation.separate import SeparationParams, separate_collection
    from nft1000_dataset.exported import rows_by_collection

    out, _ = exported
    validation = load_dataset(str(out), "full", split="validation")
    name, rows = next(iter(rows_by_collection(validation).items()))
    attributes = [validation[i]["attributes"] for i in rows]
    of_validation = separate_collection(name, attributes, RowImages(validation, rows), SeparationParams(min_support=4))
    assert of_validation.components
    args = ("--report_to", "none", "--checkpointing_steps", "0", "--eval_split", "", "--max-train-steps", "1")
    # separated on the wrong split (a validation collection): masking could act on no training row
    wrong, partial = tmp_path / "wrong-split", tmp_path / "one-training-collection"
    for folder, results in ((wrong, [of_validation]), (partial, [separated[0]])):
        shutil.copytree(out, folder)
        save_library(results, folder)
    with pytest.raises(ValueError, match=f"no component for any of the {len(separated)} training collections"):
        train_main(train_args(wrong, tmp_path / "out", *args))
    with caplog.at_level(logging.INFO, logger="modeling.separation.library"):
        train_main(train_args(partial, tmp_path / "out", *args))
    counted = f"components for 1 of {len(separated)} training collections ({len(separated[0].components)} components)"
    assert counted in caplog.text


def test_train_clip_fine_tunes_a_plain_image_caption_dataset(train_rows, tmp_path):
    from datasets import Dataset, Features, Value
    from datasets import Image as ImageFeature

    features = Features({"img": ImageFeature(), "text": Value("string")})
    for split, rows in (("train", train_rows.select(range(48))), ("test", train_rows.select(range(48, 64)))):
        plain = Dataset.from_dict({"img": rows["image"], "text": rows["caption"]}, features=features)
        plain.to_parquet(str(tmp_path / "plain" / "data" / f"{split}.parquet"))
    args = train_args(tmp_path / "plain", tmp_path / "out", "--report_to", "none", "--checkpointing_steps", "0")
    args[args.index("--config") : args.index("--config") + 2] = []  # the dataset's default config
    args[args.index("--max-train-steps") + 1] = "4"
    masked = [*args, "--image_column", "img", "--caption_column", "text"]
    with pytest.raises(ValueError, match=r"no column \['collection', 'attributes', 'token_id'\].*--mask_prob 0"):
        train_main(masked)
    assert not (tmp_path / "out" / "config.json").exists()
    results = train_main([*masked, "--mask_prob", "0"])
    assert set(results) == {"before training", "fine-tuned", "best_step"} and results["fine-tuned"]["rows"] == 16
    assert results["best_step"] == 4  # no validation slice: the last step's weights
    assert CLIPModel.from_pretrained(tmp_path / "out").config.projection_dim > 0


def test_the_model_card_carries_the_evaluation_as_model_index_and_the_licence(trained, export_with_components):
    output_dir, results, _ = trained
    card = ModelCard.load(output_dir / "README.md")  # huggingface_hub parses the metadata, model-index included
    data = card.data
    assert data.license == "other" and data.license_name and data.license_link.startswith("https://")
    assert data.datasets is None and data.base_model is None  # a local dataset folder, a model from scratch
    fine_tuned = results["fine-tuned"]["whole_split"]
    got = {r.metric_type: r.metric_value for r in data.eval_results}
    assert len(got) == 6 and data.model_name == "me/x"
    for direction in ("text_to_image", "image_to_text"):
        for k, value in fine_tuned[direction]["paired"].items():
            assert got[f"{direction}_recall@{k.removeprefix('top')}"] == pytest.approx(value, abs=0.01)
    assert all(r.dataset_split == "test" for r in data.eval_results)
    # retrieval under the Hub's embeddings task (its text-to-image is generation), each metric naming its direction;
    # a local dataset is no dataset type; the protocol names the evaluation
    task = ("feature-extraction", "Image-text retrieval")
    named = {(r.task_type, r.task_name, r.metric_type.split("_recall")[0], r.metric_name.split(" ")[0])
             for r in data.eval_results}  # fmt: skip
    assert named == {(*task, "text_to_image", "Text-to-image"), (*task, "image_to_text", "Image-to-text")}
    named = f"{export_with_components.name}, unseen collections"  # the export's folder name, not a path
    assert all(r.dataset_type == "local" and r.dataset_name == named for r in data.eval_results)


def test_attention_kernels_compile_and_optimizers_train_the_same_model(export_with_components, tmp_path):
    """The speed options (issue 21) change how the step runs, not what it computes: eager vs sdpa attention,
    compiled vs eager, fused vs plain AdamW give the same loss curve on the tiny model."""
    runs = {
        "sdpa, fused": [],
        "eager attention": ["--attn_implementation", "eager"],
        "compiled": ["--torch_compile", "--torch_compile_backend", "aot_eager"],
        "plain AdamW, no logging sync": ["--optim", "adamw_torch", "--logging_steps", "3"],
    }
    curves = {}
    for name, extra in runs.items():
        out = tmp_path / name.replace(" ", "_").replace(",", "")
        args = train_args(export_with_components, out, "--report_to", "none", "--checkpointing_steps", "0", *extra)
        args[args.index("--max-train-steps") + 1] = "6"
        args[args.index("--eval_split") + 1] = ""
        train_main(args)
        curves[name] = losses(out)
    reference = curves.pop("sdpa, fused")
    logged = curves.pop("plain AdamW, no logging sync")
    assert len(reference) == 6
    for name, curve in curves.items():
        assert curve == pytest.approx(reference, rel=1e-3), name
    assert sorted(logged) == [3, 6]  # a mean over the steps between logs, read back from the device only then
    for step in (3, 6):
        assert logged[step] == pytest.approx(np.mean([reference[s] for s in range(step - 2, step + 1)]), rel=1e-4)


def test_held_out_tokens_are_never_trained_on_and_eval_finds_the_same_ones(export_with_components, tmp_path):
    from datasets import load_dataset

    from evaluation.protocols import HELD_OUT_TOKENS
    from nft1000.cli import main as cli_main

    out = tmp_path / "run"
    args = train_args(export_with_components, out, "--report_to", "none", "--checkpointing_steps", "0",
                      "--holdout_tokens", "0.25", "--holdout_seed", "3")  # fmt: skip
    args[args.index("--max-train-steps") + 1] = "4"
    results = train_main(args)
    label = f"fine-tuned, {HELD_OUT_TOKENS}"
    assert {"before training", "fine-tuned", f"before training, {HELD_OUT_TOKENS}", label, "best_step"} == set(results)
    train = load_dataset(str(export_with_components), "full", split="train")
    held = results[label]
    assert held["collections"] == len(set(train["collection"])) and 0.2 * len(train) < held["rows"] < 0.3 * len(train)
    assert cli_main(["eval", "--model", str(out), "--dataset", str(export_with_components), "--config", "full",
                     "--split", "train", "--holdout-tokens", "0.25", "--holdout-seed", "3",
                     "--output-dir", str(tmp_path / "eval"), "--cache-dir", str(tmp_path / "cache")]) == 0  # fmt: skip
    report = json.loads((tmp_path / "eval" / "retrieval.json").read_text())[str(out)]
    for direction, targets in held["whole_split"].items():  # the same tokens, the same model: the same top-k
        for target, scores in targets.items():
            assert report["whole_split"][direction][target] == pytest.approx(scores, abs=1e-3)
    assert HELD_OUT_TOKENS in (tmp_path / "eval" / "retrieval.md").read_text()
    card = ModelCard.load(out / "README.md").data  # the run's card: both evaluations it did, labelled
    protocols = {(r.dataset_name.split(", ", 1)[1], r.dataset_split) for r in card.eval_results}
    assert protocols == {("unseen collections", "test"), (HELD_OUT_TOKENS, "train")}


def test_eval_writes_its_results_into_a_model_cards_model_index(trained, export_with_components, tmp_path):
    import shutil

    from evaluation.protocols import HELD_OUT_TOKENS
    from nft1000.cli import main as cli_main

    model = tmp_path / "model"
    shutil.copytree(trained[0], model)
    before = ModelCard.load(model / "README.md")
    common = ["eval", "--model", str(model), "--dataset", str(export_with_components), "--config", "full",
              "--output-dir", str(tmp_path / "eval"), "--update-model-card"]  # fmt: skip
    for _ in range(2):  # a second run replaces its results instead of adding them again
        assert cli_main([*common, "--split", "train", "--holdout-tokens", "0.25"]) == 0
    card = ModelCard.load(model / "README.md")
    added = [r for r in card.data.eval_results if HELD_OUT_TOKENS in r.dataset_name]
    assert len(added) == 6 and all(r.dataset_split == "train" for r in added)
    assert len(card.data.eval_results) == len(before.data.eval_results) + 6
    report = json.loads((tmp_path / "eval" / "retrieval.json").read_text())[str(model)]
    assert {r.metric_type: r.metric_value for r in added}["text_to_image_recall@1"] == pytest.approx(
        report["whole_split"]["text_to_image"]["paired"]["top1"], abs=0.01
    )
    assert (
        card.text.count("## Evaluation with `nft1000 eval`") == 1 and before.text.split("## Training")[0] in card.text
    )


def test_every_credential_field_is_replaced_and_counts_are_kept():
    from dataclasses import dataclass

    from nft1000.training_run import scalar_config

    @dataclass
    class Arguments:
        hub_token: str = "hf_secret1"
        wandb_api_key: str = "secret2"
        tracker_secret: str = "secret3"
        db_password: str = "secret4"
        holdout_tokens: float = 0.25
        tokenizer_name: str = "clip"
        keyframes: int = 3
        hub_private_repo: bool = False

    config = scalar_config(Arguments())
    assert not any(value.startswith("secret") or value.startswith("hf_") for value in map(str, config.values()))
    assert config["hub_token"] == "<HUB_TOKEN>" and config["db_password"] == "<DB_PASSWORD>"
    assert (config["holdout_tokens"], config["tokenizer_name"], config["keyframes"]) == (0.25, "clip", 3)


def _image_caption_files(exported_dir: Path, folder: Path) -> tuple[Path, Path]:
    """run_clip.py's input: csv files of image paths (relative to the file) and captions, from an export's rows."""
    import csv

    rows = load_dataset(str(exported_dir), "full", split="train").select(range(40))
    (folder / "images").mkdir(parents=True)
    files = []
    for name, part in (("train.csv", range(0, 32)), ("validation.csv", range(32, 40))):
        with open(folder / name, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "text"])
            for i in part:
                rows[i]["image"].save(folder / "images" / f"{i}.png")
                writer.writerow([f"images/{i}.png", rows[i]["caption"]])
        files.append(folder / name)
    return files[0], files[1]


def test_run_clip_flags_files_of_image_paths_a_json_of_arguments_and_the_tokenizer_options(exported, tmp_path):
    """run_clip.py's --train_file/--validation_file (csv of image paths), --max_seq_length, --cache_dir,
    --model_revision and --tokenizer_name, and all arguments from one .json file (issue 29)."""
    train_file, validation_file = _image_caption_files(exported[0], tmp_path / "files")
    first = tmp_path / "first"
    arguments = {
        "train_file": str(train_file), "validation_file": str(validation_file), "image_column": "path",
        "caption_column": "text", "model_name_or_path": "tiny", "tiny_image_size": 32, "mask_prob": 0,
        "max_seq_length": 12, "cache_dir": str(tmp_path / "cache"), "output_dir": str(first),
        "per_device_train_batch_size": 8, "max_train_steps": 2, "report_to": "none", "checkpointing_steps": 0,
    }  # fmt: skip
    (tmp_path / "args.json").write_text(json.dumps(arguments))
    results = train_main([str(tmp_path / "args.json")])
    assert results["fine-tuned"]["rows"] == 8  # the validation file's rows are the evaluation split
    assert list((tmp_path / "cache").rglob("*.arrow"))  # the files were cached where --cache_dir says
    assert CLIPProcessor.from_pretrained(first).tokenizer.model_max_length == 12

    tokenizer = tmp_path / "tokenizer"
    CLIPProcessor.from_pretrained(first).tokenizer.save_pretrained(tokenizer)
    config = json.loads((tokenizer / "tokenizer_config.json").read_text())
    (tokenizer / "tokenizer_config.json").write_text(json.dumps({**config, "padding_side": "left"}))
    second = tmp_path / "second"
    train_main(["--train_file", str(train_file), "--image_column", "path", "--caption_column", "text", "--model",
                str(first), "--model_revision", "main", "--tokenizer_name", str(tokenizer), "--mask_prob", "0",
                "--output_dir", str(second), "--per_device_train_batch_size", "8", "--max_train_steps", "1",
                "--report_to", "none", "--checkpointing_steps", "0"])  # fmt: skip
    assert CLIPProcessor.from_pretrained(second).tokenizer.padding_side == "left"  # the tokenizer of --tokenizer_name
    assert CLIPProcessor.from_pretrained(first).tokenizer.padding_side == "right"

    with pytest.raises(ValueError, match="--validation_file goes with --train_file"):
        train_main([*train_args(exported[0], tmp_path / "mixed"), "--validation_file", str(validation_file)])
    with pytest.raises(ValueError, match="--max_seq_length 200: the text model holds"):
        train_main([*train_args(exported[0], tmp_path / "long"), "--max_seq_length", "200", "--mask_prob", "0"])
    (tmp_path / "bad.json").write_text(json.dumps({**arguments, "no_such_argument": 1}))
    with pytest.raises(SystemExit):
        train_main([str(tmp_path / "bad.json")])


def test_early_stopping_ends_on_the_best_validation_step_and_reports_the_test_tokens_there(
    export_with_components, tmp_path
):
    from evaluation.protocols import HELD_OUT_TOKENS, hold_out_tokens

    out = tmp_path / "run"
    args = train_args(export_with_components, out, "--report_to", "none", "--checkpointing_steps", "0",
                      "--eval_split", "", "--holdout_tokens", "0.4", "--validation_holdout_tokens", "0.5",
                      "--eval_steps", "2", "--load_best_model_at_end", "--mask_policy", "decay")  # fmt: skip
    args[args.index("--max-train-steps") + 1] = "8"
    results = train_main(args)
    assert results["best_step"] in {2, 4, 6, 8}
    _, held_out = hold_out_tokens(load_dataset(str(export_with_components), "full", split="train"), 0.4, 0)
    test, validation = hold_out_tokens(held_out, 0.5, 1)  # the slices train_clip makes: disjoint, both non-empty
    tokens = [set(zip(rows["collection"], rows["token_id"], strict=True)) for rows in (test, validation)]
    assert tokens[0].isdisjoint(tokens[1]) and all(tokens)
    model, processor = CLIPModel.from_pretrained(out), CLIPProcessor.from_pretrained(out)
    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    key = "eval_validation_slice/text_to_image/paired/top1"
    scores = {record["step"]: record[key] for record in records if key in record and record["step"] > 0}
    assert sorted(scores) == [2, 4, 6, 8]  # every --eval_steps, and the last step
    best = max(scores.values())
    assert results["best_step"] == min(step for step, score in scores.items() if score == best)
    assert evaluate_model(model, processor, validation, 64).top()["top1"] == pytest.approx(best, abs=1e-3)
    saved = evaluate_model(model, processor, test, 64)  # the reported test tokens are the saved weights' scores
    for direction, targets in results[f"fine-tuned, {HELD_OUT_TOKENS}"]["whole_split"].items():
        for target, scores in targets.items():
            assert saved["whole_split"][direction][target] == pytest.approx(scores, abs=1e-3)

    without_slice = train_args(export_with_components, tmp_path / "refused", "--holdout_tokens", "0.4",
                               "--load_best_model_at_end")  # fmt: skip
    with pytest.raises(ValueError, match="--validation_holdout_tokens"):
        train_main(without_slice)


def test_a_card_that_evaluated_nothing_says_so_until_eval_adds_results(tmp_path):
    from huggingface_hub import EvalResult

    from nft1000.model_card import NOTHING_EVALUATED, add_eval_results, clip_model_card

    card = clip_model_card(model_name="m", model_name_or_path="tiny", dataset_name="d", dataset_config="full",
                           mask_prob=0.3, hyperparameters={}, evaluation_markdown=None, evaluations={},
                           eval_splits={}, train_rows=10, steps=1, seconds=1.0)  # fmt: skip
    (tmp_path / "README.md").write_text(str(card))
    assert NOTHING_EVALUATED in card.text
    result = EvalResult(task_type="feature-extraction", task_name="Image-text retrieval", dataset_type="local",
                        dataset_name="d, held-out tokens", metric_type="text_to_image_recall@1",
                        metric_value=12.5)  # fmt: skip
    add_eval_results(tmp_path, [result], "| model | top1 |\n| --- | ---: |\n| this model | 12.5 |")
    updated = ModelCard.load(tmp_path / "README.md")
    assert NOTHING_EVALUATED not in updated.text and "evaluated nothing itself" in updated.text
    assert updated.data.eval_results[0].metric_value == 12.5


def test_a_lora_cards_model_index_name_is_a_slug():
    from nft1000.model_card import lora_model_card

    card = lora_model_card(base_model="tiny", dataset_name="d", collection="Bored Ape Yacht Club #2", prompts=[],
                           hyperparameters={}, train_rows=4, fixed_loss={"before": 1.0, "after": 0.5}, steps=1,
                           seconds=1.0)  # fmt: skip
    assert card.data.model_name == "lora-bored-ape-yacht-club-2"
    assert ModelCard(str(card)).data.eval_results[0].task_type == "text-to-image"  # generation: the Hub's own task


def test_a_config_by_name_is_the_config_the_flags_give_and_a_wrong_name_is_an_error():
    from nft1000.train_clip import TrainingConfig

    flags = ["--dataset", "d", "--config", "mini", "--model", "tiny", "--output-dir", "o", "--max-train-steps", "7",
             "--mask-prob", "0", "--warmup-steps", "2", "--dataloader-persistent-workers",
             "--holdout-tokens", "0.2"]  # fmt: skip
    by_name = TrainingConfig.of(dataset_name="d", dataset_config_name="mini", model_name_or_path="tiny",
                                output_dir="o", max_train_steps=7, mask_prob=0.0, num_warmup_steps=2,
                                dataloader_persistent_workers=True, holdout_tokens=0.2)  # fmt: skip
    assert by_name == TrainingConfig.from_flags(flags)
    with pytest.raises(TypeError, match="close: max_train_steps"):
        TrainingConfig.of(output_dir="o", max_train_step=3)
    with pytest.raises(ValueError, match="mask_policy is one of"):
        TrainingConfig.of(output_dir="o", mask_policy="sometimes")
