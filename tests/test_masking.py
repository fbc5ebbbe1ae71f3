"""Dynamic masking and the collator on a real exported synthetic dataset and its separated components."""

import copy
import io

import numpy as np
import pytest
import torch
from datasets import Image as ImageFeature
from datasets import load_dataset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from transformers import CLIPImageProcessor

from modeling.images import decoded
from modeling.masking.collator import DynamicMaskingCollator
from modeling.masking.masker import COVERED, DynamicMasker
from modeling.separation.library import ComponentLibrary
from nft1000_dataset.captions import build_caption


def _row(train_rows, index):
    row = train_rows[index]
    return np.asarray(row["image"].convert("RGB")), row


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    index=st.integers(0, 79),
    seed=st.integers(0, 2**32 - 1),
    p=st.floats(0, 1),
    mode=st.sampled_from(["independent", "one"]),
)
def test_masked_pixels_and_dropped_phrases_agree(train_rows, library, index, seed, p, mode):
    image, row = _row(train_rows, index % len(train_rows))
    masker = DynamicMasker(library, mask_prob=p, mode=mode, fill="constant", fill_value=(1, 2, 3))
    sample = masker(image, row["collection"], row["attributes"], np.random.default_rng(seed))
    again = masker(image, row["collection"], row["attributes"], np.random.default_rng(seed))
    assert np.array_equal(sample.image, again.image) and sample.caption == again.caption  # seeded
    candidates = masker.candidates(image, row["collection"], row["attributes"])
    assert len(sample.masked) < max(1, len(candidates))  # never every component
    kept = [a for a in row["attributes"] if (a["trait_type"], a["value"]) not in set(sample.masked)]
    assert sample.caption == build_caption(row["collection"], kept)  # exactly the masked phrases go
    changed = (sample.image != image).any(axis=-1)
    if sample.masked:
        union = np.logical_or.reduce([candidates[k] for k in sample.masked])
        assert np.array_equal(sample.pixels, union)  # exactly the masked components' pixels are filled
        assert (sample.image[union] == (1, 2, 3)).all() and not changed[~union].any()
        assert all(candidates[k].any() for k in sample.masked)
        for key, shown in candidates.items():  # no phrase stays whose pixels are mostly filled
            assert key in sample.masked or union[shown].mean() < COVERED
    else:
        assert not changed.any() and sample.caption == row["caption"]


def test_p_zero_is_the_identity(train_rows, library):
    image, row = _row(train_rows, 3)
    sample = DynamicMasker(library, mask_prob=0.0)(
        image, row["collection"], row["attributes"], np.random.default_rng(0)
    )
    assert sample.image is image and sample.caption == row["caption"]


@pytest.mark.parametrize("fill", ["mean", "background"])
def test_other_fills_change_only_the_masked_pixels(train_rows, library, fill):
    masker = DynamicMasker(library, mask_prob=1.0, fill=fill)
    for index in range(10):
        image, row = _row(train_rows, index)
        sample = masker(image, row["collection"], row["attributes"], np.random.default_rng(index))
        if sample.masked:
            assert not (sample.image != image).any(axis=-1)[~sample.pixels].any()
            return
    pytest.fail("no token had two visible components")


def test_collator_at_p_zero_is_the_plain_clip_pipeline(train_rows, tokenizer):
    processor = CLIPImageProcessor()
    collator = DynamicMaskingCollator(image_processor=processor, tokenizer=tokenizer, mask_prob=0.0)
    rows = [train_rows[i] for i in range(6)]
    batch = collator(rows)
    plain = processor(images=[r["image"] for r in rows], return_tensors="pt")["pixel_values"]
    text = tokenizer([r["caption"] for r in rows], padding=True, return_tensors="pt")
    assert batch["pixel_values"].shape == (6, 3, 224, 224)
    assert torch.allclose(batch["pixel_values"], plain, atol=1e-5)
    assert torch.equal(batch["input_ids"], text["input_ids"])
    assert torch.equal(batch["attention_mask"], text["attention_mask"])


def test_masking_at_full_size_is_the_processor_on_the_full_size_masked_image(train_rows, library, tokenizer):
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    collator = DynamicMaskingCollator(
        image_processor=processor,
        tokenizer=tokenizer,
        library=library,
        mask_prob=0.5,
        mode="one",
        mask_at="full",
        seed=1,
    )
    rows = [train_rows[i] for i in range(12)]
    batch = collator(rows)
    masker = DynamicMasker(library, mask_prob=0.5, mode="one")  # at full size: no dilation
    samples = [masker(*_row(train_rows, i)[:1], r["collection"], r["attributes"], collator.row_generator(r))
               for i, r in enumerate(rows)]  # fmt: skip
    assert any(sample.masked for sample in samples) and not all(sample.masked for sample in samples)
    expected = processor(images=[sample.image for sample in samples], return_tensors="pt")["pixel_values"]
    assert torch.allclose(batch["pixel_values"], expected, atol=1e-5)
    text = tokenizer([sample.caption for sample in samples], padding=True, return_tensors="pt")
    assert torch.equal(batch["input_ids"], text["input_ids"])
    with pytest.raises(ValueError, match="mask_at"):
        DynamicMaskingCollator(image_processor=processor, tokenizer=tokenizer, library=library, mask_at="half")


def test_collator_is_picklable_seeded_and_works_in_worker_processes(train_rows, library, tokenizer):
    collator = DynamicMaskingCollator(
        image_processor=CLIPImageProcessor(), tokenizer=tokenizer, library=library, mask_prob=0.5, seed=3
    )
    subset = train_rows.select(range(16))

    def run(context=None):
        loader = torch.utils.data.DataLoader(
            subset, batch_size=4, collate_fn=collator, num_workers=2, multiprocessing_context=context
        )
        return [batch["input_ids"] for batch in loader]

    first, second = run(), run()
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    collator(list(subset))  # fills the parent's cache of component windows, keyed by this process's objects
    assert collator.masker._windows and not copy.deepcopy(collator).masker._windows  # not carried over
    spawned = run("spawn")  # spawn pickles the collator into fresh processes, as on macOS and Windows
    assert all(torch.equal(a, b) for a, b in zip(first, spawned, strict=True))
    collator.set_epoch(1)
    assert any(not torch.equal(a, b) for a, b in zip(first, run(), strict=True))


@pytest.mark.parametrize("context", [None, "spawn"])
def test_set_epoch_reaches_persistent_workers(train_rows, library, tokenizer, context):
    collator = DynamicMaskingCollator(
        image_processor=CLIPImageProcessor(), tokenizer=tokenizer, library=library, mask_prob=0.5, seed=3
    )
    subset = train_rows.select(range(16))
    kept = torch.utils.data.DataLoader(
        subset, batch_size=4, collate_fn=collator, num_workers=2, persistent_workers=True,
        multiprocessing_context=context,
    )  # fmt: skip
    for epoch in (0, 1, 0):  # the workers started in epoch 0 stay; each epoch must give its own masks
        collator.set_epoch(epoch)
        expected = [collator(list(subset.select(range(i, i + 4)))) for i in range(0, 16, 4)]
        got = list(kept)
        for want, batch in zip(expected, got, strict=True):
            assert all(torch.equal(want[name], batch[name]) for name in want)
    assert kept._iterator is not None and kept._iterator._workers  # the same workers served all three epochs


def test_tiny_caches_evict_and_give_the_same_batches(export_with_components, tokenizer):
    rows = load_dataset(str(export_with_components), "full", split="train").cast_column(
        "image", ImageFeature(decode=False)
    )
    batches = [[rows[i] for i in range(start, min(start + 16, len(rows)))] for start in range(0, len(rows), 16)]

    def collator(cache_bytes: int):
        library = ComponentLibrary.load(str(export_with_components), cache_bytes=cache_bytes)
        return DynamicMaskingCollator(
            image_processor=CLIPImageProcessor(), tokenizer=tokenizer, library=library, mask_prob=0.5,
            fill="background", seed=5, window_cache_bytes=cache_bytes, image_cache_bytes=cache_bytes,
        )  # fmt: skip

    roomy, tiny = collator(2**30), collator(1)
    for epoch in (0, 1):  # the second epoch takes every resized image from the roomy cache, masks them anew
        roomy.set_epoch(epoch), tiny.set_epoch(epoch)
        for batch in batches:
            expected, got = roomy(batch), tiny(batch)
            assert all(torch.equal(expected[name], got[name]) for name in expected)
    assert len(tiny.masker._windows) == 1 and len(tiny.masker.library._rows) == 1  # everything else evicted
    assert len(tiny.resized) == 1 and len(roomy.resized) == len(rows)
    assert len(roomy.masker._windows) > 10 and len(roomy.masker.library._rows) > 1


def test_masking_without_a_library_is_a_clear_error(tokenizer):
    with pytest.raises(ValueError, match="component library"):
        DynamicMaskingCollator(image_processor=CLIPImageProcessor(), tokenizer=tokenizer, mask_prob=0.5)


def test_the_library_ships_as_the_components_config(export_with_components, separated):
    copy = export_with_components
    assert "config_name: components" in (copy / "README.md").read_text()
    library = ComponentLibrary.load(str(copy))
    original = {c.key: c for r in separated for c in r.components if c.collection == separated[0].collection}
    loaded = library.collection(separated[0].collection)
    assert set(loaded) == set(original)
    for key, component in original.items():
        assert np.array_equal(loaded[key].mask, component.mask) and np.array_equal(loaded[key].rgb, component.rgb)
    assert load_dataset(str(copy), "components", split="train").num_rows > 0  # the config the card declares
    assert load_dataset(str(copy), "mini", split="test").num_rows > 0  # the other configs still load


@settings(max_examples=40, deadline=None)
@given(
    mode=st.sampled_from(["RGB", "RGBA", "P", "L", "I;16"]),
    size=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    seed=st.integers(0, 2**16),
)
def test_png_bytes_decode_to_pillow_s_rgb_pixels_whichever_decoder(mode, size, seed):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 4), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGBA") if mode == "RGBA" else Image.fromarray(pixels[..., :3], "RGB")
    image = image.convert(mode) if mode in ("P", "L") else image
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 2**16, (size[1], size[0]), dtype=np.uint16))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    expected = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    assert np.array_equal(np.asarray(decoded({"bytes": buffer.getvalue(), "path": None})), expected)


def test_a_truncated_png_gets_pillow_s_error_not_an_index_error():
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(buffer, "PNG")
    with pytest.raises(OSError):
        decoded({"bytes": buffer.getvalue()[:25], "path": None})  # signature and IHDR's name, no colour type
