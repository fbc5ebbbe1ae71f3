"""Dynamic masking (paper, 5.2): hide some components of a token and drop their phrases from the caption.

A component is a candidate in a token when the token carries its attribute and shows some of its pixels
(`Component.token_mask`). A candidate whose shown pixels the chosen ones cover for the most part (at least
`COVERED`) is hidden with them: attributes that describe the same pixels (CryptoPunks' ``type: Male`` and
``gender: Male`` are one head; ``skin tone`` is that head's skin) go together, so that no phrase left in the
caption describes pixels that were filled. Hidden components have exactly their shown pixels filled, and
exactly their attributes leave the caption, which is rebuilt through the caption template; attributes without a
component (numeric, abstract, unseparated) always stay. At least one candidate is always left visible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from modeling.byte_cache import ByteLRU
from modeling.masking.policy import DEFAULT_MASK_PROB
from modeling.separation.component import Component, TraitKey
from nft1000_dataset.attributes import Attribute, is_absent, is_numeric
from nft1000_dataset.captions import build_caption

if TYPE_CHECKING:
    from modeling.separation.library import ComponentLibrary

MODES = ("independent", "one")  # each component with probability p / one component with probability p
FILLS = ("constant", "mean", "background")
COVERED = 0.5  # a candidate with this share of its shown pixels under the chosen ones is hidden with them


@dataclass
class MaskedSample:
    image: np.ndarray
    caption: str
    masked: list[TraitKey] = field(default_factory=list)
    pixels: np.ndarray | None = None  # bool H x W: the filled pixels


@dataclass(frozen=True)
class Window:
    """What masking keeps of one component at one image size: where it can show (its bounding box grown by the
    dilation) and its colour range there (a pixel value v matches where the uint8 difference v - low, wrapping
    below low, is at most span), and its colours there for the background fill."""

    key: TraitKey
    rows: slice
    cols: slice
    mask: np.ndarray
    low: np.ndarray  # 3 x h x w uint8, one contiguous plane per channel
    span: np.ndarray  # 3 x h x w uint8
    rgb: np.ndarray | None = None  # h x w x 3, kept for the background trait's component only

    @property
    def nbytes(self) -> int:
        extra = self.rgb.nbytes if self.rgb is not None else 0
        return self.mask.nbytes + self.low.nbytes + self.span.nbytes + extra + 256


DEFAULT_WINDOW_BYTES = 256 * 2**20  # windows kept per process (an LRU): bounded whatever the collections met


@dataclass
class DynamicMasker:
    """Chooses components, fills their pixels, rebuilds the caption; all randomness comes from `rng`. The
    windows of the components met are kept in an LRU cache of at most `cache_bytes`, keyed by collection, value
    and image size (not pickled into DataLoader workers: each builds its own)."""

    library: ComponentLibrary
    mask_prob: float = DEFAULT_MASK_PROB
    mode: str = "independent"
    fill: str = "constant"
    fill_value: tuple[int, int, int] = (127, 127, 127)
    tolerance: int = 24
    background_trait: str = "background"
    dilate: int = 0  # grow each shown mask by this many pixels (covers blended edges after a resize)
    cache_bytes: int = DEFAULT_WINDOW_BYTES

    _windows: ByteLRU = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._windows = ByteLRU(self.cache_bytes)
        if not 0.0 <= self.mask_prob <= 1.0:
            raise ValueError(f"mask_prob must be in [0, 1], got {self.mask_prob}")
        if self.mode not in MODES or self.fill not in FILLS:
            raise ValueError(f"mode must be one of {MODES} and fill one of {FILLS}")

    def _make_window(self, component: Component) -> Window:
        """The component's bounding box grown by `dilate`, with its mask and colour bounds there."""
        x0, y0, x1, y1 = component.box
        height, width = component.size
        rows = slice(max(y0 - self.dilate, 0), min(y1 + self.dilate, height))
        cols = slice(max(x0 - self.dilate, 0), min(x1 + self.dilate, width))
        mask = np.zeros((rows.stop - rows.start, cols.stop - cols.start), dtype=bool)
        colour = np.zeros((*mask.shape, 3), dtype=np.int16)
        inner = (slice(y0 - rows.start, y1 - rows.start), slice(x0 - cols.start, x1 - cols.start))
        mask[inner], colour[inner] = component.mask_crop, component.rgb_crop
        low = np.clip(colour - self.tolerance, 0, 255)
        span = np.clip(colour + self.tolerance, 0, 255) - low
        planes = [np.ascontiguousarray(bound.transpose(2, 0, 1), dtype=np.uint8) for bound in (low, span)]
        background = self.fill == "background" and component.trait_type.lower() == self.background_trait
        rgb = colour.astype(np.uint8) if background else None
        return Window(component.key, rows, cols, mask, *planes, rgb=rgb)

    def windows(self, collection: str, attributes: list[Attribute], shape: tuple[int, ...]) -> list[Window]:
        """The windows of the token's visual attributes that have a component (whether they show or not), in
        attribute order; built from the library on first use, then from the cache."""
        keys = [(a["trait_type"], a["value"]) for a in attributes if not (is_absent(a) or is_numeric(a))]
        size = tuple(shape[:2])
        known: dict[TraitKey, Window | None] = {}
        for key in dict.fromkeys(keys):
            cache_key = (collection, key, size)
            if cache_key in self._windows:
                known[key] = self._windows.get(cache_key)
        missing = [key for key in dict.fromkeys(keys) if key not in known]
        if missing:
            built = self.library.components(collection, missing, size)
            for key in missing:  # keys without a component are remembered as such, not asked for again
                window = known[key] = self._make_window(built[key]) if key in built else None
                self._windows.put((collection, key, size), window, window.nbytes if window is not None else 64)
        return [known[key] for key in keys if known[key] is not None]

    def _shown_in_window(self, window: Window, image: np.ndarray) -> np.ndarray | None:
        part = image[window.rows, window.cols]
        inside = window.mask.copy()
        for channel in range(3):
            inside &= (part[..., channel] - window.low[channel]) <= window.span[channel]
        if not inside.any():
            return None
        for _ in range(self.dilate):
            grown = inside.copy()
            grown[1:] |= inside[:-1]
            grown[:-1] |= inside[1:]
            grown[:, 1:] |= inside[:, :-1]
            grown[:, :-1] |= inside[:, 1:]
            inside = grown
        return inside

    def candidates(self, image: np.ndarray, collection: str, attributes: list[Attribute]) -> dict[TraitKey, np.ndarray]:
        """Each carried component that shows in this image, with the pixels (full-size bool) where it shows."""
        found = {}
        for window in self.windows(collection, attributes, image.shape):
            inside = self._shown_in_window(window, image)
            if inside is not None:
                pixels = np.zeros(image.shape[:2], dtype=bool)
                pixels[window.rows, window.cols] = inside
                found[window.key] = pixels
        return found

    def choose(self, keys: list[TraitKey], rng: np.random.Generator, mask_prob: float | None = None) -> list[TraitKey]:
        """Each key with probability `mask_prob` (default: the masker's), never all of them."""
        p = self.mask_prob if mask_prob is None else mask_prob
        if len(keys) < 2 or p == 0.0:
            return []
        if self.mode == "one":
            return [keys[rng.integers(len(keys))]] if rng.random() < p else []
        chosen = [k for k, draw in zip(keys, rng.random(len(keys)), strict=True) if draw < p]
        if len(chosen) == len(keys):
            chosen.pop(int(rng.integers(len(chosen))))  # never hide every component
        return chosen

    def _fill_colours(self, image: np.ndarray, windows: list[Window]) -> np.ndarray:
        if self.fill == "mean":
            return image.reshape(-1, 3).mean(axis=0).round().astype(np.uint8)
        if self.fill == "background":
            for window in windows:
                if window.rgb is not None:
                    filled = np.empty(image.shape, dtype=np.uint8)
                    filled[:] = self.fill_value
                    area = filled[window.rows, window.cols]
                    np.copyto(area, window.rgb, where=window.mask[..., None])
                    return filled
        return np.asarray(self.fill_value, dtype=np.uint8)

    @staticmethod
    def _hidden_with(
        chosen: list[TraitKey], shown: dict[TraitKey, tuple[Window, np.ndarray]], shape: tuple[int, ...]
    ) -> list[TraitKey]:
        """The chosen components and every other shown one whose pixels they cover for the most part."""
        if not chosen:
            return []
        under = np.zeros(shape, dtype=bool)
        for key in chosen:
            window, inside = shown[key]
            under[window.rows, window.cols] |= inside
        chosen_set = set(chosen)
        return [
            key
            for key, (window, inside) in shown.items()
            if key in chosen_set or under[window.rows, window.cols][inside].mean() >= COVERED
        ]

    def __call__(
        self,
        image: np.ndarray,
        collection: str,
        attributes: list[Attribute],
        rng: np.random.Generator,
        mask_prob: float | None = None,
    ) -> MaskedSample:
        """The token masked with probability `mask_prob` per component (default: the masker's)."""
        p = self.mask_prob if mask_prob is None else mask_prob
        if p == 0.0:
            return MaskedSample(image=image, caption=build_caption(collection, attributes))
        carried = self.windows(collection, attributes, image.shape)
        chosen_keys = set(self.choose([w.key for w in carried], rng, p))
        if not chosen_keys:
            return MaskedSample(image=image, caption=build_caption(collection, attributes))
        shown = {w.key: (w, inside) for w in carried if (inside := self._shown_in_window(w, image)) is not None}
        chosen = [key for key in shown if key in chosen_keys]
        hidden = self._hidden_with(chosen, shown, image.shape[:2])
        while chosen and len(hidden) == len(shown):  # never hide every component that shows
            chosen.pop(int(rng.integers(len(chosen))))
            hidden = self._hidden_with(chosen, shown, image.shape[:2])
        if not hidden:
            return MaskedSample(image=image, caption=build_caption(collection, attributes))
        colours = self._fill_colours(image, carried)
        pixels = np.zeros(image.shape[:2], dtype=bool)
        # filled window by window and channel by channel: a masked copy into one contiguous plane is several
        # times faster than one into interleaved RGB; the result is the same H x W x 3 image, stored by channel
        planes = np.ascontiguousarray(image.transpose(2, 0, 1))
        for key in hidden:
            window, inside = shown[key]
            pixels[window.rows, window.cols] |= inside
            for channel, plane in enumerate(planes):
                fill = colours[channel] if colours.ndim == 1 else colours[window.rows, window.cols, channel]
                np.copyto(plane[window.rows, window.cols], fill, where=inside)
        masked = planes.transpose(1, 2, 0)
        kept = [a for a in attributes if (a["trait_type"], a["value"]) not in set(hidden)]
        return MaskedSample(image=masked, caption=build_caption(collection, kept), masked=hidden, pixels=pixels)
