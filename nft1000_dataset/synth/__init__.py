"""Synthetic layered PFP collections in the exact NFT1000 release layout: the embedded default.

Two styles: ``easy`` (the default: about 35 values a collection, well-separated colours, lossless images) and
``real-like`` (NFT1000's shape: about 450 values, one trait type with 200, near colours, and with ``variant``
resampled or JPEG images; `nft1000_dataset.synth.real`). ``non_layered`` adds collections whose images are not
layers at all (noise fields, gradients), as NFT1000 also holds.

``nft1000 synth --out DIR`` writes::

    DIR/release/<Name>/{images,metadata,captions,prompts}/<Name>_<id>.*  (or DIR/release/<Name>.zip)
    DIR/release/<Name>/metadata_dashboard.json
    DIR/ground_truth/<Name>/collection.json            styles, traits, which attributes are visual
    DIR/ground_truth/<Name>/layers/<kind>/<n>.png      each trait value's RGBA layer (canvas size)
    DIR/ground_truth/<Name>/visibility/<Name>_<id>.png per pixel, 1-based index of the visible layer
    DIR/ground_truth/faults.json                       with --faults: each planted fault and its expected reason

Every token is a unique combination of trait values drawn with rarity weights, composited in a fixed layer
order. Some collections have abstract trait names (no visual meaning in the words) and non-visual numeric
attributes with a ``display_type``. Output depends only on the seed; collections are made in parallel.

Modules: `spec` (a collection's design and tokens), `art` (drawing layers), `real` (the real-like mode's values,
colours, image variants and non-layered images), `writer` (one collection in the release layout), `faults`
(planted faults), `release` (`synthesize`). Nothing here imports back up: release -> writer -> spec -> art -> real.
"""

from .release import synthesize
from .spec import (
    STYLES,
    CollectionSpec,
    make_non_layered_spec,
    make_real_like_spec,
    make_spec,
    sample_tokens,
    token_attributes,
)

__all__ = [
    "STYLES",
    "CollectionSpec",
    "make_non_layered_spec",
    "make_real_like_spec",
    "make_spec",
    "sample_tokens",
    "synthesize",
    "token_attributes",
]
