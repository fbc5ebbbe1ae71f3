"""train_lora.py and `nft1000 generate` end to end on the tiny pipeline and one synthetic collection, and the
trait parser and checks they rely on."""

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import FAKE_HUB_TOKEN, files_containing, recorded_hub_pushes
from datasets import load_dataset
from diffusers import DDPMScheduler, StableDiffusionPipeline
from huggingface_hub import ModelCard
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from modeling.models.diffusion import DEFAULT_DIFFUSION_MODEL, load_pipeline
from modeling.models.lora_collator import LoraCollator
from modeling.models.lora_training import fixed_denoising_loss
from nft1000.cli import main as cli_main
from nft1000.train_lora import FIXED_LOSS_ROWS
from nft1000.train_lora import main as train_lora
from nft1000_dataset.exported import load_collections
from nft1000_dataset.traits import check_traits, parse_trait, trait_vocabulary

STEPS, CHECKPOINT_AT = 30, 15


def lora_args(dataset: Path, collection: str, output_dir: Path, *extra: str) -> list[str]:
    return [
        "--pretrained-model", "tiny", "--tiny-resolution", "32", "--dataset", str(dataset), "--config", "full",
        "--collection", collection, "--output-dir", str(output_dir), "--train_batch_size", "4",
        "--max-train-steps", str(STEPS), "--learning-rate", "1e-2", "--rank", "8", "--logging-steps", "1",
        "--checkpointing-steps", str(CHECKPOINT_AT), "--validation_steps", str(CHECKPOINT_AT),
        "--num-validation-images", "2", "--num_inference_steps", "2", "--seed", "3", *extra,
    ]  # fmt: skip


def losses(output_dir: Path) -> dict[int, float]:
    lines = (output_dir / "train_log.jsonl").read_text().splitlines()
    return {record["step"]: record["loss"] for record in map(json.loads, lines)}


@pytest.fixture(scope="module")
def collection(exported) -> str:
    out, _ = exported
    names = Counter(load_dataset(str(out), "full", split="train")["collection"])
    return names.most_common(1)[0][0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, exported, collection):
    out, _ = exported
    output_dir = tmp_path_factory.mktemp("lora") / "lora-style"
    extra = ("--report_to", "tensorboard", "--push_to_hub", "--hub_model_id", "me/lora", "--hub_token", FAKE_HUB_TOKEN)
    with recorded_hub_pushes() as pushed:
        summary = train_lora(lora_args(out, collection, output_dir, *extra))
    return output_dir, {**summary, "pushed": pushed}


def base_and_lora(output_dir: Path) -> tuple[StableDiffusionPipeline, StableDiffusionPipeline]:
    base = StableDiffusionPipeline.from_pretrained(output_dir / "tiny-base")
    tuned = StableDiffusionPipeline.from_pretrained(output_dir / "tiny-base")
    tuned.load_lora_weights(output_dir)
    return base, tuned


def render(pipeline: StableDiffusionPipeline, prompt: str) -> np.ndarray:
    pipeline.set_progress_bar_config(disable=True)
    generator = torch.Generator().manual_seed(0)
    return pipeline(prompt, num_inference_steps=3, generator=generator, output_type="np").images[0]


@pytest.mark.slow
def test_training_lowers_the_loss_of_the_saved_lora_on_its_collection(trained, exported, collection):
    output_dir, summary = trained
    assert summary["steps"] == STEPS
    base, tuned = base_and_lora(output_dir)
    rows = load_collections(str(exported[0]), [collection], "full")
    batch = LoraCollator(base.tokenizer, 32, False, False, "prompt", seed=0)([rows[i] for i in range(FIXED_LOSS_ROWS)])
    scheduler = DDPMScheduler.from_config(base.scheduler.config)
    before = fixed_denoising_loss(base.unet, base.vae, base.text_encoder, scheduler, batch, seed=1)
    after = fixed_denoising_loss(tuned.unet, tuned.vae, tuned.text_encoder, scheduler, batch, seed=1)
    assert after < 0.95 * before
    assert summary["fixed_loss"]["after"] < summary["fixed_loss"]["before"]


@pytest.mark.slow
def test_the_saved_lora_changes_the_output_and_scale_zero_restores_the_base(trained):
    output_dir, _ = trained
    base, tuned = base_and_lora(output_dir)
    prompt = json.loads((output_dir / "nft1000_lora.json").read_text())["collection"] + " style PFP"
    reference = render(base, prompt)
    assert np.abs(render(tuned, prompt) - reference).max() > 1e-3
    tuned.set_adapters(tuned.get_active_adapters(), adapter_weights=0.0)
    np.testing.assert_array_equal(render(tuned, prompt), reference)


@pytest.mark.slow
def test_the_output_folder_has_weights_card_samples_and_trait_vocabulary(trained, collection):
    output_dir, summary = trained
    assert (output_dir / "pytorch_lora_weights.safetensors").is_file()
    card = ModelCard.load(output_dir / "README.md")
    assert card.data.library_name == "diffusers" and "lora" in card.data.tags
    assert card.data.license == "other" and card.data.datasets is None  # a local dataset folder
    [loss] = card.data.eval_results
    assert loss.metric_type == "loss" and loss.metric_value == pytest.approx(summary["fixed_loss"]["after"], abs=1e-4)
    assert "![samples](samples.png)" in card.text
    with Image.open(output_dir / "samples.png") as grid:
        assert grid.size == (2 * 32, 32)
    assert sorted(p.name for p in (output_dir / "validation").iterdir()) == [
        f"step-{CHECKPOINT_AT:06d}.png",
        f"step-{STEPS:06d}.png",
    ]
    info = json.loads((output_dir / "nft1000_lora.json").read_text())
    assert info["collection"] == collection and info["base_model"] == "tiny-base" and info["traits"]
    assert list((output_dir / "train_lora").iterdir()), "tensorboard events were written"


@pytest.mark.slow
def test_push_to_hub_sends_the_folder_and_the_hub_token_is_written_nowhere(trained):
    output_dir, summary = trained
    pushed = summary["pushed"]
    assert pushed["repo"] == ("me/lora", "model") and pushed["token"] == FAKE_HUB_TOKEN
    assert "pytorch_lora_weights.safetensors" in pushed["files"]
    assert not any(name.startswith(("checkpoint-", "train_lora/")) for name in pushed["files"])
    assert files_containing(output_dir, FAKE_HUB_TOKEN) == []  # card, tracker logs, train_log, checkpoints
    assert FAKE_HUB_TOKEN not in pushed["card"]


@pytest.mark.slow
def test_resuming_from_the_latest_checkpoint_continues_the_run_exactly(trained, exported, collection):
    output_dir, _ = trained
    resumed = output_dir.parent / "resumed"
    resumed.mkdir()
    for part in (f"checkpoint-{CHECKPOINT_AT}", "tiny-base"):
        shutil.copytree(output_dir / part, resumed / part)
    train_lora(lora_args(exported[0], collection, resumed, "--resume_from_checkpoint", "latest", "--report_to", "none"))
    expected = {step: loss for step, loss in losses(output_dir).items() if step > CHECKPOINT_AT}
    assert list(losses(resumed)) == list(expected)
    np.testing.assert_allclose(list(losses(resumed).values()), list(expected.values()), rtol=1e-5)


@pytest.mark.slow
def test_generate_writes_images_from_traits_and_rejects_unknown_ones(trained, tmp_path, capsys):
    output_dir, _ = trained
    vocabulary = json.loads((output_dir / "nft1000_lora.json").read_text())["traits"]
    trait, values = next(iter(vocabulary.items()))
    out = tmp_path / "images"
    common = ["--lora", str(output_dir), "--out", str(out), "--num-inference-steps", "2"]
    assert cli_main(["generate", *common, "--traits", f"{trait}={values[0]}", "--num-images", "3"]) == 0
    record = json.loads((out / "generation.json").read_text())
    assert record["prompt"].endswith(f"{values[0]} {trait}") and len(record["files"]) == 3
    assert all((out / name).is_file() for name in record["files"]) and (out / "grid.png").is_file()

    typo = values[0][:-1] + ("x" if values[0][-1] != "x" else "y")
    assert cli_main(["generate", *common, "--traits", f"{trait}={typo}"]) == 1
    assert repr(values[0]) in capsys.readouterr().err  # the close match is named


@pytest.mark.slow
def test_offline_with_a_hub_pipeline_name_is_a_clear_error():
    with pytest.raises(RuntimeError, match="--pretrained_model tiny"):
        load_pipeline(DEFAULT_DIFFUSION_MODEL)


def test_an_unknown_collection_is_an_error_with_close_matches(exported):
    with pytest.raises(ValueError, match="no collection"):
        load_collections(str(exported[0]), ["No Such Collection"], "full")


names = st.text(st.characters(codec="utf-8", exclude_characters="=", exclude_categories=("Cs", "Cc")), min_size=1)
values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1)


@given(names.filter(lambda s: s.strip()), values.filter(lambda s: s.strip()))
def test_parse_trait_reads_back_what_it_is_given(trait, value):
    parsed = parse_trait(f" {trait} = {value} ")
    assert (parsed["trait_type"], parsed["value"]) == (trait.strip(), value.strip())


@pytest.mark.parametrize("spec", ["Hair", "=Pink", "Hair=", "  =  "])
def test_parse_trait_rejects_specs_without_a_trait_or_a_value(spec):
    with pytest.raises(ValueError, match="TRAIT=VALUE"):
        parse_trait(spec)


def test_check_traits_names_every_problem_with_close_matches():
    vocabulary = trait_vocabulary(
        [
            [{"trait_type": "Hair", "value": "Pink Hairband", "display_type": None}],
            [{"trait_type": "Hair", "value": "Pink Bob", "display_type": None}],
            [{"trait_type": "Clothing", "value": "Kimono", "display_type": None}],
            [{"trait_type": "Clothing", "value": "None", "display_type": None}],
        ]
    )
    assert vocabulary == {"Clothing": ["Kimono"], "Hair": ["Pink Bob", "Pink Hairband"]}
    check_traits([parse_trait("Hair=Pink Bob"), parse_trait("Clothing=Kimono")], vocabulary, "Azuki")
    with pytest.raises(ValueError) as error:
        check_traits([parse_trait("Hair=Pink Hairbnd"), parse_trait("Clohting=Kimono")], vocabulary, "Azuki")
    assert "'Pink Hairband'" in str(error.value) and "'Clothing'" in str(error.value)


def test_one_validation_prompt_renders_num_validation_images_different_images(trained, exported, collection):
    from accelerate import Accelerator

    from nft1000.train_lora import parse_args, render_validation, validation_prompt_list

    output_dir, _ = trained
    rows = load_collections(str(exported[0]), [collection], "full")
    base = ["--dataset", "d", "--collection", collection, "--output_dir", "o"]
    args = parse_args([*base, "--validation_prompt", "a pink hat", "--num_validation_images", "3"])
    assert validation_prompt_list(args, rows) == ["a pink hat"] * 3  # diffusers: one prompt, three images
    pipeline = StableDiffusionPipeline.from_pretrained(output_dir / "tiny-base")
    images = render_validation(Accelerator(cpu=True), pipeline, validation_prompt_list(args, rows), 2, seed=0)
    arrays = [np.asarray(image) for image in images]
    assert len(arrays) == 3 and not np.array_equal(arrays[0], arrays[1])  # a seed of its own each
    assert len(validation_prompt_list(parse_args([*base, "--num-validation-images", "2"]), rows)) == 2
    with pytest.raises(ValueError, match="not both"):
        validation_prompt_list(parse_args([*base, "--validation_prompt", "x", "--validation_prompts", "y"]), rows)


def test_diffusers_flags_an_image_folder_variant_scale_lr_prediction_type_and_validation_epochs(
    trained, exported, collection, tmp_path
):
    """train_text_to_image_lora.py's --train_data_dir (imagefolder with metadata.jsonl), --image_column and
    --caption_column, --revision and --variant, --center_crop, --scale_lr, --prediction_type and
    --validation_epochs, with the meanings they have there (issue 29)."""
    rows = load_collections(str(exported[0]), [collection], "full").select(range(8))
    folder = tmp_path / "My Style"
    folder.mkdir()
    with open(folder / "metadata.jsonl", "w") as handle:
        for i, row in enumerate(rows):
            row["image"].save(folder / f"{i}.png")
            handle.write(json.dumps({"file_name": f"{i}.png", "text": row["prompt"]}) + "\n")
    base = tmp_path / "base"  # the tiny base saved as an fp16 variant: only --variant fp16 finds its weights
    StableDiffusionPipeline.from_pretrained(trained[0] / "tiny-base").save_pretrained(base, variant="fp16")
    assert not list(base.rglob("diffusion_pytorch_model.safetensors"))
    common = ["--pretrained-model", str(base), "--variant", "fp16", "--revision", "main", "--train_data_dir",
              str(folder), "--image_column", "image", "--caption_column", "text", "--center_crop",
              "--train_batch_size", "4", "--learning-rate", "1e-3", "--num_inference_steps", "2",
              "--num-validation-images", "2", "--logging-steps", "1", "--checkpointing-steps", "0",
              "--report_to", "none", "--seed", "3"]  # fmt: skip
    out = tmp_path / "v"
    summary = train_lora([*common, "--output-dir", str(out), "--max-train-steps", "4", "--scale_lr",
                          "--validation_epochs", "1", "--prediction_type", "v_prediction"])  # fmt: skip
    assert json.loads((out / "nft1000_lora.json").read_text())["collection"] == "My Style"  # named by its folder
    logged = {round(json.loads(line)["lr"], 9) for line in (out / "train_log.jsonl").read_text().splitlines()}
    assert logged == {4e-3}  # scaled by batch size 4 x accumulation 1 x 1 process
    # 8 rows in batches of 4: 2 steps an epoch, a grid at the end of epoch 1, then the final one
    assert sorted(p.name for p in (out / "validation").iterdir()) == ["step-000002.png", "step-000004.png"]
    epsilon = train_lora([*common, "--output-dir", str(tmp_path / "e"), "--max-train-steps", "1"])
    assert summary["fixed_loss"]["before"] != pytest.approx(epsilon["fixed_loss"]["before"])  # another target


def test_a_lora_whose_alpha_is_not_its_rank_reloads_as_the_model_trained(tmp_path):
    """diffusers reloads a LoRA at the alpha its metadata gives (else alpha = rank): saved without it, a rank-4
    alpha-16 adapter would reload at a quarter of its effect."""
    from modeling.models.diffusion import TinyDiffusionSpec, build_tiny_pipeline
    from modeling.models.lora_training import add_lora, save_lora

    torch.manual_seed(0)
    pipeline = build_tiny_pipeline(["a red hat", "a blue cap"] * 10, TinyDiffusionSpec(resolution=32))
    pipeline.save_pretrained(tmp_path / "base")
    add_lora(pipeline.unet, pipeline.text_encoder, rank=4, alpha=16)
    with torch.no_grad():  # lora_B starts at zero: give the adapters an effect, as training would
        for model in (pipeline.unet, pipeline.text_encoder):
            for name, parameter in model.named_parameters():
                if "lora_B" in name:
                    parameter.normal_(0.0, 0.2)
    save_lora(tmp_path / "lora", pipeline.unet, pipeline.text_encoder)
    reloaded = StableDiffusionPipeline.from_pretrained(tmp_path / "base")
    reloaded.load_lora_weights(tmp_path / "lora")
    ids = pipeline.tokenizer(["a red hat"], padding="max_length", max_length=16, return_tensors="pt").input_ids
    latents, timestep = torch.randn(1, 4, 8, 8), torch.tensor([10])
    with torch.no_grad():
        outputs = []
        for model in (pipeline, reloaded):
            states = model.text_encoder(ids)[0]
            outputs.append((states, model.unet(latents, timestep, encoder_hidden_states=states).sample))
    torch.testing.assert_close(outputs[1][0], outputs[0][0])
    torch.testing.assert_close(outputs[1][1], outputs[0][1])
