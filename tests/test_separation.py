"""Component separation on small hand-made layered collections where the truth is known exactly."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from modeling.separation.peeling import canvas_colour
from modeling.separation.pixels import blends, iou, shown_pixels
from modeling.separation.separate import SeparationParams, separate_collection

SIZE = 48
BACKGROUNDS = {"Blue": (40, 60, 200), "Red": (200, 40, 40), "Grey": (120, 120, 120)}
HATS = {"Cap": (slice(4, 12), slice(12, 36)), "Band": (slice(18, 22), slice(10, 38)), "None": None}
GLASSES = {"Shades": (slice(20, 26), slice(12, 36)), "Monocle": (slice(30, 34), slice(26, 30)), "None": None}
HAT_COLOUR, GLASS_COLOUR, FACE = (250, 200, 0), (10, 10, 10), (230, 180, 150)
FACE_BOX = (slice(10, 40), slice(14, 34))


def _token(background, hat, glasses, noise, rng):
    image = np.empty((SIZE, SIZE, 3), dtype=np.int16)
    image[:] = BACKGROUNDS[background]
    image[FACE_BOX] = FACE
    if HATS[hat] is not None:
        image[HATS[hat]] = HAT_COLOUR
    if GLASSES[glasses] is not None:  # the top layer: occludes the band hat where they overlap
        image[GLASSES[glasses]] = GLASS_COLOUR
    if noise:
        image += rng.integers(-noise, noise + 1, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def _collection(noise=0, repeat=3, seed=0):
    rng = np.random.default_rng(seed)
    tokens, images = [], []
    for _ in range(repeat):
        for background, hat, glasses in itertools.product(BACKGROUNDS, HATS, GLASSES):
            tokens.append(
                [
                    {"trait_type": "Background", "value": background, "display_type": None},
                    {"trait_type": "Hat", "value": hat, "display_type": None},
                    {"trait_type": "Glasses", "value": glasses, "display_type": None},
                    {"trait_type": "Level", "value": str(rng.integers(1, 9)), "display_type": "number"},
                ]
            )
            images.append(_token(background, hat, glasses, noise, rng))
    return tokens, images


def _truth(region=None, background=False):
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    if region is not None:
        mask[region] = True
    if background:
        mask[:] = True
        mask[FACE_BOX] = False
    return mask


@pytest.mark.parametrize("noise", [0, 10])
def test_components_match_the_layers_within_the_tolerance(noise):
    tokens, images = _collection(noise=noise)
    result = separate_collection("Toy", tokens, images.__getitem__, SeparationParams(min_support=4))
    found = {c.key: c for c in result.components}
    assert iou(found[("Hat", "Cap")].mask, _truth(HATS["Cap"])) > 0.95
    assert iou(found[("Glasses", "Shades")].mask, _truth(GLASSES["Shades"])) > 0.95
    assert iou(found[("Background", "Blue")].mask, _truth(background=True)) > 0.95
    assert ("Hat", "None") not in found and ("Glasses", "None") not in found
    assert all(reason.startswith("numeric") for key, reason in result.skipped.items() if key.startswith("Level"))


def test_an_occluded_component_is_recovered_whole_from_several_groups():
    tokens, images = _collection()
    result = separate_collection("Toy", tokens, images.__getitem__, SeparationParams(min_support=4))
    band = next(c for c in result.components if c.key == ("Hat", "Band"))
    assert band.mask[HATS["Band"]].all()  # shades cover the band's middle in a third of the tokens
    token = next(i for i, t in enumerate(tokens) if t[1]["value"] == "Band" and t[2]["value"] == "Shades")
    shown = band.token_mask(images[token], 24)
    assert not shown[GLASSES["Shades"]].any() and shown.sum() == 2 * 28 + 2 * 4  # rows above the shades, ends


def test_traits_that_the_positives_happen_to_share_do_not_leak_in():
    tokens, images = _collection()
    # every token with a cap gets a blue background: the cap's positives all share it
    for attributes, image in zip(tokens, images, strict=True):
        if attributes[1]["value"] == "Cap":
            attributes[0]["value"] = "Blue"
            image[:] = np.where((image == BACKGROUNDS["Red"]).all(-1, keepdims=True), BACKGROUNDS["Blue"], image)
            image[:] = np.where((image == BACKGROUNDS["Grey"]).all(-1, keepdims=True), BACKGROUNDS["Blue"], image)
    ours = separate_collection("Toy", tokens, images.__getitem__, SeparationParams(min_support=4))
    paper = separate_collection("Toy", tokens, images.__getitem__, SeparationParams(min_support=4, method="paper"))
    cap = next(c for c in ours.components if c.key == ("Hat", "Cap"))
    literal = next(c for c in paper.components if c.key == ("Hat", "Cap"))
    assert iou(cap.mask, _truth(HATS["Cap"])) > 0.95
    assert iou(literal.mask, _truth(HATS["Cap"])) < 0.5  # the literal recipe takes the shared background too


def test_a_component_hidden_in_most_of_its_tokens_is_recovered_whole_in_its_own_colour():
    rng = np.random.default_rng(0)
    tokens, images = [], []
    for repeat in range(12):  # shades on top in two of every three tokens: in the band's middle most of its
        for background, hat in itertools.product(BACKGROUNDS, HATS):  # carriers show the shades' colour
            glasses = "Shades" if repeat % 3 else ("None", "Monocle")[len(background) % 2]
            tokens.append(
                [
                    {"trait_type": "Background", "value": background, "display_type": None},
                    {"trait_type": "Hat", "value": hat, "display_type": None},
                    {"trait_type": "Glasses", "value": glasses, "display_type": None},
                ]
            )
            images.append(_token(background, hat, glasses, 0, rng))
    overlap = _truth(HATS["Band"]) & _truth(GLASSES["Shades"])
    result = separate_collection("Toy", tokens, images.__getitem__, SeparationParams(min_support=4))
    band = next(c for c in result.components if c.key == ("Hat", "Band"))
    assert iou(band.mask, _truth(HATS["Band"])) == 1.0
    assert (band.rgb[overlap] == HAT_COLOUR).all()
    shades = next(c for c in result.components if c.key == ("Glasses", "Shades"))
    assert iou(shades.mask, _truth(GLASSES["Shades"])) == 1.0


def _smooth_token(background, hat, rng):
    """A token drawn at twice the size and reduced (BOX): anti-aliased edges, as in smooth collections."""
    big = np.empty((2 * SIZE, 2 * SIZE, 3), dtype=np.float32)
    big[:] = BACKGROUNDS[background]
    alpha = np.zeros((2 * SIZE, 2 * SIZE), dtype=np.float32)
    if hat == "Disc":
        yy, xx = np.mgrid[: 2 * SIZE, : 2 * SIZE]
        alpha[(yy - SIZE + 0.5) ** 2 + (xx - SIZE + 0.5) ** 2 < (0.55 * SIZE) ** 2] = 1.0
    big = big * (1 - alpha[..., None]) + np.array(HAT_COLOUR, np.float32) * alpha[..., None]
    small = big.reshape(SIZE, 2, SIZE, 2, 3).mean(axis=(1, 3))
    coverage = alpha.reshape(SIZE, 2, SIZE, 2).mean(axis=(1, 3))
    return np.rint(small).astype(np.uint8), coverage >= 0.5


def test_anti_aliased_edges_belong_to_the_layer_that_covers_half_of_them():
    rng = np.random.default_rng(0)
    tokens, images, covered = [], [], None
    for _ in range(6):
        for background, hat in itertools.product(BACKGROUNDS, ("Disc", "None")):
            image, coverage = _smooth_token(background, hat, rng)
            covered = coverage if hat == "Disc" else covered
            tokens.append(
                [
                    {"trait_type": "Background", "value": background, "display_type": None},
                    {"trait_type": "Hat", "value": hat, "display_type": None},
                ]
            )
            images.append(image)
    assert blends(images[0], 24).any() and not blends(images[1], 24).any()  # the disc's rim; a plain canvas
    result = separate_collection("Toy", tokens, images.__getitem__, SeparationParams(min_support=4))
    disc = next(c for c in result.components if c.key == ("Hat", "Disc"))
    assert iou(disc.mask, covered) > 0.97
    for image, attributes in zip(images, tokens, strict=True):
        shown = disc.token_mask(image, 24)
        assert iou(shown, covered) > 0.97 if attributes[1]["value"] == "Disc" else not shown.any()


def test_shown_pixels_take_a_blended_edge_nearer_the_component():
    image = np.zeros((1, 8, 3), dtype=np.uint8)
    image[0, :4] = (200, 0, 0)  # the component
    image[0, 4] = (150, 0, 0)  # a blend three quarters of the component: shown
    image[0, 5] = (60, 0, 0)  # a blend mostly of what is further out: not shown
    mask = np.zeros((1, 8), dtype=bool)
    mask[0, :6] = True
    rgb = np.zeros((1, 8, 3), dtype=np.uint8)
    rgb[mask] = (200, 0, 0)
    assert shown_pixels(image, mask, rgb, 24)[0].tolist() == [True] * 5 + [False] * 3


def test_a_collection_with_many_rare_values_keeps_images_of_every_one():
    tokens, images = [], []
    for hat in range(30):  # 30 hats of 5 tokens each: more than the pool holds at 32 positives a value
        for n in range(5):
            background = list(BACKGROUNDS)[(hat + n) % 3]
            image = _token(background, "None", "None", 0, None)
            image[HATS["Cap"]] = (8 * hat, 255 - 8 * hat, 100)
            images.append(image)
            tokens.append(
                [
                    {"trait_type": "Background", "value": background, "display_type": None},
                    {"trait_type": "Hat", "value": f"Hat {hat}", "display_type": None},
                ]
            )
    result = separate_collection("Toy", tokens, images.__getitem__, SeparationParams(min_support=4))
    hats = {c.value: c for c in result.components if c.trait_type == "Hat"}
    assert len(hats) == 30, result.skipped
    assert all(iou(c.mask, _truth(HATS["Cap"])) == 1.0 for c in hats.values())


@settings(max_examples=60, deadline=None)
@given(
    image=arrays(np.uint8, (6, 7, 3)),
    mask=arrays(bool, (6, 7)),
    colour=st.tuples(*[st.integers(0, 255)] * 3),
)
def test_shown_pixels_lie_in_the_mask_and_take_every_pixel_of_the_colour(image, mask, colour):
    rgb = np.zeros_like(image)
    rgb[mask] = colour
    shown = shown_pixels(image, mask, rgb, 24)
    core = mask & (np.abs(image.astype(int) - np.array(colour)).max(axis=-1) <= 24)
    assert not (shown & ~mask).any() and (shown | ~core).all()


def test_a_trait_that_counts_other_traits_gets_no_component():
    tokens, images = _collection()
    for attributes in tokens:  # OpenSea's "Trait Count": correlates with the pixels, is none of them
        count = sum(a["value"] != "None" for a in attributes)
        attributes.append({"trait_type": "Trait Count", "value": str(count), "display_type": None})
    result = separate_collection("Toy", tokens, images.__getitem__, SeparationParams(min_support=4))
    assert not any(c.trait_type == "Trait Count" for c in result.components)
    assert result.skipped["Trait Count=4"] == "counts the token's other traits: describes no pixels"
    assert any(c.key == ("Hat", "Cap") for c in result.components)


def test_a_canvas_is_found_only_where_no_trait_paints_the_border():
    stack = np.stack(_collection()[1])
    assert canvas_colour(stack, ["Background", "Hat", "Glasses"], 24) is None  # backgrounds are a trait
    assert canvas_colour(stack, ["Hat", "Glasses"], 24) is None  # three border colours: no one canvas
    blue = np.where(_truth(background=True)[None, ..., None], np.uint8(BACKGROUNDS["Blue"]), stack)
    blue[::2, -1, 16:32] = (0, 0, 0)  # a neck reaches the bottom edge in half the tokens
    assert tuple(canvas_colour(blue, ["Hat", "Glasses"], 24)) == BACKGROUNDS["Blue"]
    assert canvas_colour(blue, ["background", "Hat"], 24) is None


CELLS, UPSCALE = 16, 8  # pixel art: 16 x 16 cells shown at 128 px


def _near_colour_collection(hats: int, gap: int, seed: int, carriers: int = 6):
    """A pixel-art collection with `hats` hat values (random boxes, colours `gap` levels apart in one channel),
    4 backgrounds `gap` apart, 3 glasses and a face that is no trait; returns (tokens, images, truth) where truth
    maps each value to its cell mask and colour."""
    rng = np.random.default_rng(seed)
    backgrounds = {f"Sky {k}": (90, 120 + gap * k, 160) for k in range(4)}
    hat_values = {}
    for k in range(hats):
        y, x = rng.integers(0, 3), rng.integers(2, 8)
        box = (slice(y, y + rng.integers(2, 4)), slice(x, x + rng.integers(3, 7)))
        hat_values[f"Hat {k}"] = (box, (200, 255 - gap * k, 40))
    glasses = {
        "Shades": (slice(8, 10), slice(4, 12)),
        "Visor": (slice(7, 9), slice(3, 13)),
        "Mono": (slice(8, 10), slice(9, 11)),
    }
    glass_colour = {"Shades": (10, 10, 10), "Visor": (0, 200, 220), "Mono": (230, 230, 230)}
    face = (slice(4, 15), slice(3, 13))
    tokens, images = [], []
    hat_list = [*(name for name in hat_values for _ in range(carriers)), *(["None"] * 20)]
    for hat in hat_list:
        background, glass = rng.choice(list(backgrounds)), rng.choice([*glasses, "None"])
        art = np.empty((CELLS, CELLS, 3), dtype=np.uint8)
        art[:] = backgrounds[background]
        art[face] = (240, 200, 160)
        if hat != "None":
            box, colour = hat_values[hat]
            art[box] = colour
        if glass != "None":
            art[glasses[glass]] = glass_colour[glass]
        images.append(np.asarray(Image.fromarray(art).resize((CELLS * UPSCALE,) * 2, Image.Resampling.NEAREST)))
        tokens.append(
            [
                {"trait_type": "Background", "value": background, "display_type": None},
                {"trait_type": "Hat", "value": hat, "display_type": None},
                {"trait_type": "Glasses", "value": glass, "display_type": None},
            ]
        )
    truth = {("Hat", name): (box, colour) for name, (box, colour) in hat_values.items()}
    truth.update({("Background", name): (None, colour) for name, colour in backgrounds.items()})
    return tokens, images, truth


@settings(max_examples=12, deadline=None)
@given(hats=st.integers(10, 40), gap=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_every_value_of_many_with_near_colours_gets_its_own_component(hats, gap, seed):
    tokens, images, truth = _near_colour_collection(hats, gap, seed)
    result = separate_collection("Toy", tokens, images.__getitem__, SeparationParams(min_support=4))
    assert result.tolerance == 0 and result.grid.native and result.grid.cells == (CELLS, CELLS)
    found = {c.key: c for c in result.components}
    assert set(truth) <= set(found), sorted(set(truth) - set(found))  # every value with enough carriers
    for key, (box, colour) in truth.items():
        component = found[key]
        assert (component.rgb[component.mask] == colour).all(), key  # only its own colour, never a neighbour's
        if box is not None:
            cells = np.zeros((CELLS, CELLS), dtype=bool)
            cells[box] = True
            expected = np.asarray(Image.fromarray(cells).resize((CELLS * UPSCALE,) * 2, Image.Resampling.NEAREST))
            assert iou(component.mask, expected) > 0.9, key


def test_the_tolerance_is_zero_on_lossless_art_and_follows_the_noise_of_lossy_images():
    tokens, images, truth = _near_colour_collection(12, gap=12, seed=5)
    lossless = separate_collection("Toy", tokens, images.__getitem__, SeparationParams(min_support=4))
    rng = np.random.default_rng(0)
    noisy = [np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8) for image in images]
    lossy = separate_collection("Toy", tokens, noisy.__getitem__, SeparationParams(min_support=4))
    height, width = images[0].shape[:2]
    size = (round(width * 0.85), round(height * 0.85))  # resampled by a non-integer factor: ringing at every edge
    resampled = [np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS)) for image in images]
    ringing = separate_collection("Toy", tokens, resampled.__getitem__, SeparationParams(min_support=4))
    assert lossless.tolerance == 0
    assert 1 <= lossy.tolerance < 12  # the noise left in cell colours, below the 12 levels between backgrounds
    assert ringing.grid.native and ringing.tolerance == 0  # pixel art is read at its cell centres, left clean
    found = {c.key: c for c in lossy.components}
    assert set(truth) <= set(found)
    for key, (_, colour) in truth.items():
        shown = found[key].rgb[found[key].mask].astype(int)
        assert np.abs(shown - colour).max() <= lossy.tolerance, key  # each background keeps its own colour


def test_the_tolerance_of_smooth_art_follows_the_ringing_of_resampling():
    from PIL import ImageDraw

    from modeling.separation.tolerance import estimate_tolerance

    rng = np.random.default_rng(0)
    drawn = []
    for _ in range(24):  # one value (a disc) over backgrounds of many colours, the rest of the collection
        image = Image.new("RGB", (96, 96), tuple(int(c) for c in rng.integers(0, 256, 3)))
        ImageDraw.Draw(image).ellipse((30, 30, 66, 66), fill=(200, 40, 40))
        drawn.append(image)
    carriers = [np.ones(len(drawn), dtype=bool)]
    lossless = np.stack([np.asarray(image) for image in drawn])
    resampled = np.stack([np.asarray(image.resize((81, 81), Image.Resampling.LANCZOS)) for image in drawn])
    assert estimate_tolerance(lossless, carriers) == 0
    assert estimate_tolerance(resampled, carriers) >= 2  # the disc's edge rings with whatever lies across it


def test_a_collection_that_is_not_layered_art_gets_no_components(tmp_path):
    from modeling.masking.masker import DynamicMasker
    from modeling.separation.library import ComponentLibrary
    from nft1000_dataset.captions import build_caption
    from nft1000_dataset.synth import make_non_layered_spec, sample_tokens, token_attributes
    from nft1000_dataset.synth.real import non_layered_image

    for index in (0, 1):  # noise fields, then gradients
        spec = make_non_layered_spec(index, seed=0)
        tokens = [token_attributes(spec, token, n) for n, token in enumerate(sample_tokens(spec, 120))]
        images = [non_layered_image(spec.seed + n, (128, 128), spec.layered) for n in range(120)]
        result = separate_collection(spec.name, tokens, images.__getitem__, SeparationParams(min_support=4))
        assert result.components == [] and "not layered" in result.not_layered, (spec.layered, result.explained)
        masker = DynamicMasker(ComponentLibrary.from_results([result]), mask_prob=1.0)
        sample = masker(images[0], spec.name, tokens[0], np.random.default_rng(0))
        assert sample.masked == [] and np.array_equal(sample.image, images[0])  # the collator leaves it alone
        assert sample.caption == build_caption(spec.name, tokens[0])
