"""The synthetic generator: deterministic, parallel-safe, and its ground truth explains every pixel."""

import hashlib
import json

import numpy as np
from PIL import Image

from nft1000_dataset.attributes import normalize_attributes
from nft1000_dataset.synth import make_spec, synthesize


def _tree_hashes(root):
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes_in_one_or_two_processes(tmp_path):
    synthesize(tmp_path / "a", 3, 25, seed=7, as_zip=True, num_proc=1)
    synthesize(tmp_path / "b", 3, 25, seed=7, as_zip=True, num_proc=2)
    assert _tree_hashes(tmp_path / "a") == _tree_hashes(tmp_path / "b")
    synthesize(tmp_path / "c", 3, 25, seed=8, as_zip=True)
    assert _tree_hashes(tmp_path / "a") != _tree_hashes(tmp_path / "c")


def test_every_token_is_a_unique_combination_and_styles_differ(synth_folders):
    styles = set()
    for collection_json in (synth_folders / "ground_truth").glob("*/collection.json"):
        truth = json.loads(collection_json.read_text())
        combos = [tuple((layer["kind"], layer["value"]) for layer in layers) for layers in truth["tokens"].values()]
        assert len(set(combos)) == len(combos)
        styles.add((truth["style"], tuple(truth["canvas"])))
    assert {style for style, _ in styles} == {"pixel", "smooth"}
    assert len({canvas for _, canvas in styles}) >= 2


def test_ground_truth_layers_and_visibility_rebuild_each_image(synth_folders):
    root = synth_folders / "ground_truth" / "Neon Owls 1"
    truth = json.loads((root / "collection.json").read_text())
    name = truth["name"]
    for token_id, layers in list(truth["tokens"].items())[:5]:
        image = np.asarray(Image.open(synth_folders / "release" / name / "images" / f"{name}_{token_id}.png"))
        visible = np.asarray(Image.open(root / "visibility" / f"{name}_{token_id}.png"))
        assert visible.shape == image.shape[:2] and visible.min() >= 1 and visible.max() <= len(layers)
        rgbas = [np.asarray(Image.open(root / truth["layers"][la["kind"]][la["value"]])) for la in layers]
        for index, rgba in enumerate(rgbas, start=1):
            touched_above = np.zeros(visible.shape, dtype=bool)
            for above in rgbas[index:]:
                touched_above |= above[..., 3] > 0  # anti-aliased edges of higher layers blend in
            shows = (visible == index) & (rgba[..., 3] == 255) & ~touched_above
            assert np.array_equal(image[shows], rgba[..., :3][shows])  # pixel-identical wherever it shows
        metadata = json.loads((synth_folders / "release" / name / "metadata" / f"{name}_{token_id}.json").read_text())
        values = {(a["trait_type"], a["value"]) for a in normalize_attributes(metadata)}
        assert {(layer["trait_type"], layer["value"]) for layer in layers} <= values


def test_some_collections_are_abstract_or_carry_numeric_attributes():
    specs = [make_spec(i, 0, 100) for i in range(8)]
    assert any(s.abstract for s in specs) and any(s.numeric_traits for s in specs)
    assert {s.metadata_form for s in specs} == {"list", "dict", "traits"}
