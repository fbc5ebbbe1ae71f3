"""Dynamic masking (paper, 5.2): hide some components of a token and drop their phrases from the caption.

A component is a candidate in a token when the token carries its attribute and shows some of its pixels
(`Component.token_mask`). Chosen components have exactly those pixels filled, and exactly their attributes
leave the caption, which is rebuilt through the caption template; attributes without a component (numeric,
abstract, unseparated) always stay. At least one candidate is always left visible.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nft1000_dataset.attributes import Attribute, is_absent, is_numeric
from nft1000_dataset.captions import build_caption

from .component import Component, TraitKey
from .library import ComponentLibrary

MODES = ("independent", "one")  # each component with probability p / one component with probability p
FILLS = ("constant", "mean", "background")
SAMPLED_PIXELS = 64


@dataclass
class MaskedSample:
    image: np.ndarray
    caption: str
    masked: list[TraitKey] = field(default_factory=list)
    pixels: np.ndarray | None = None  # bool H x W: the filled pixels


@dataclass(frozen=True)
class Window:
    """Where a component can show (its bounding box grown by the dilation) and its colour range there: a
    pixel value v matches where the uint8 difference v - low (wrapping below low) is at most span."""

    rows: slice
    cols: slice
    mask: np.ndarray
    sample: tuple[np.ndarray, np.ndarray]  # a few mask pixels, spread over it, for a quick "does it show"
    low: np.ndarray  # 3 x h x w uint8, one contiguous plane per channel
    span: np.ndarray  # 3 x h x w uint8


@dataclass
class DynamicMasker:
    """Chooses components, fills their pixels, rebuilds the caption; all randomness comes from `rng`."""

    library: ComponentLibrary
    mask_prob: float = 0.5
    mode: str = "independent"
    fill: str = "constant"
    fill_value: tuple[int, int, int] = (127, 127, 127)
    tolerance: int = 24
    background_trait: str = "background"
    dilate: int = 0  # grow each shown mask by this many pixels (covers blended edges after a resize)

    _windows: dict[int, Window] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict:
        """Pickled for DataLoader workers without the window cache: it is keyed by the components' ids, which
        mean other objects in another process."""
        return {**self.__dict__, "_windows": {}}

    def __post_init__(self) -> None:
        if not 0.0 <= self.mask_prob <= 1.0:
            raise ValueError(f"mask_prob must be in [0, 1], got {self.mask_prob}")
        if self.mode not in MODES or self.fill not in FILLS:
            raise ValueError(f"mode must be one of {MODES} and fill one of {FILLS}")

    def carried(self, collection: str, attributes: list[Attribute], shape: tuple[int, ...]) -> list[Component]:
        """The library's components for the token's visual attributes (whether they show or not)."""
        components = self.library.collection(collection, shape[:2])
        found = []
        for attribute in attributes:
            if is_absent(attribute) or is_numeric(attribute):
                continue
            component = components.get((attribute["trait_type"], attribute["value"]))
            if component is not None:
                found.append(component)
        return found

    def _window(self, component: Component) -> Window:
        """The component's bounding box grown by `dilate`, with its mask and colour bounds there (cached)."""
        window = self._windows.get(id(component))
        if window is None:
            x0, y0, x1, y1 = component.box
            height, width = component.size
            rows = slice(max(y0 - self.dilate, 0), min(y1 + self.dilate, height))
            cols = slice(max(x0 - self.dilate, 0), min(x1 + self.dilate, width))
            mask = np.zeros((rows.stop - rows.start, cols.stop - cols.start), dtype=bool)
            colour = np.zeros((*mask.shape, 3), dtype=np.int16)
            inner = (slice(y0 - rows.start, y1 - rows.start), slice(x0 - cols.start, x1 - cols.start))
            mask[inner], colour[inner] = component.mask_crop, component.rgb_crop
            ys, xs = np.nonzero(mask)
            spread = np.linspace(0, len(ys) - 1, min(len(ys), SAMPLED_PIXELS)).astype(int)
            low = np.clip(colour - self.tolerance, 0, 255)
            span = np.clip(colour + self.tolerance, 0, 255) - low
            planes = [np.ascontiguousarray(bound.transpose(2, 0, 1), dtype=np.uint8) for bound in (low, span)]
            window = Window(rows, cols, mask, (ys[spread], xs[spread]), *planes)
            self._windows[id(component)] = window
        return window

    def _shown_in_window(self, component: Component, image: np.ndarray) -> tuple[Window, np.ndarray] | None:
        window = self._window(component)
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
        return window, inside

    def _shows(self, component: Component, image: np.ndarray) -> bool:
        """Whether `component` shows anywhere in `image`: a few of its pixels first, which mostly settles it."""
        window = self._window(component)
        ys, xs = window.sample
        part = image[window.rows, window.cols][ys, xs]  # n x 3
        if ((part.T - window.low[:, ys, xs]) <= window.span[:, ys, xs]).all(axis=0).any():
            return True
        return self._shown_in_window(component, image) is not None

    def shown(self, component: Component, image: np.ndarray) -> np.ndarray | None:
        """The pixels where `component` shows in `image` (full-size bool), or None where it does not."""
        found = self._shown_in_window(component, image)
        if found is None:
            return None
        window, inside = found
        pixels = np.zeros(image.shape[:2], dtype=bool)
        pixels[window.rows, window.cols] = inside
        return pixels

    def candidates(self, image: np.ndarray, collection: str, attributes: list[Attribute]) -> dict[TraitKey, np.ndarray]:
        """Each carried component that shows in this image, with the pixels where it shows."""
        found = {c.key: self.shown(c, image) for c in self.carried(collection, attributes, image.shape)}
        return {key: pixels for key, pixels in found.items() if pixels is not None}

    def choose(self, keys: list[TraitKey], rng: np.random.Generator) -> list[TraitKey]:
        if len(keys) < 2 or self.mask_prob == 0.0:
            return []
        if self.mode == "one":
            return [keys[rng.integers(len(keys))]] if rng.random() < self.mask_prob else []
        chosen = [k for k, draw in zip(keys, rng.random(len(keys)), strict=True) if draw < self.mask_prob]
        if len(chosen) == len(keys):
            chosen.pop(int(rng.integers(len(chosen))))  # never hide every component
        return chosen

    def _fill_colours(self, image: np.ndarray, collection: str, attributes: list[Attribute]) -> np.ndarray:
        if self.fill == "mean":
            return image.reshape(-1, 3).mean(axis=0).round().astype(np.uint8)
        if self.fill == "background":
            components = self.library.collection(collection, image.shape[:2])
            for a in attributes:
                component = components.get((a["trait_type"], a["value"]))
                if component is not None and a["trait_type"].lower() == self.background_trait:
                    filled = np.where(component.mask[..., None], component.rgb, np.uint8(self.fill_value))
                    return filled.astype(np.uint8)
        return np.asarray(self.fill_value, dtype=np.uint8)

    def __call__(
        self, image: np.ndarray, collection: str, attributes: list[Attribute], rng: np.random.Generator
    ) -> MaskedSample:
        if self.mask_prob == 0.0:
            return MaskedSample(image=image, caption=build_caption(collection, attributes))
        carried = self.carried(collection, attributes, image.shape)
        chosen_keys = set(self.choose([c.key for c in carried], rng))
        # the pixels of chosen components only; then make sure some unchosen component still shows
        shown = {c.key: self._shown_in_window(c, image) for c in carried if c.key in chosen_keys}
        chosen = [key for key, found in shown.items() if found is not None]
        if chosen and not any(self._shows(c, image) for c in carried if c.key not in chosen_keys):
            chosen.pop(int(rng.integers(len(chosen))))  # never hide every component that shows
        if not chosen:
            return MaskedSample(image=image, caption=build_caption(collection, attributes))
        colours = self._fill_colours(image, collection, attributes)
        pixels = np.zeros(image.shape[:2], dtype=bool)
        # filled window by window and channel by channel: a masked copy into one contiguous plane is several
        # times faster than one into interleaved RGB; the result is the same H x W x 3 image, stored by channel
        planes = np.ascontiguousarray(image.transpose(2, 0, 1))
        for key in chosen:
            window, inside = shown[key]
            pixels[window.rows, window.cols] |= inside
            for channel, plane in enumerate(planes):
                fill = colours[channel] if colours.ndim == 1 else colours[window.rows, window.cols, channel]
                np.copyto(plane[window.rows, window.cols], fill, where=inside)
        masked = planes.transpose(1, 2, 0)
        kept = [a for a in attributes if (a["trait_type"], a["value"]) not in set(chosen)]
        return MaskedSample(image=masked, caption=build_caption(collection, kept), masked=chosen, pixels=pixels)
