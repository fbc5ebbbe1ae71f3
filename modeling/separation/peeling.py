"""Component separation by peeling layers: every pixel's colour is explained from the top layer down.

A token's pixel shows the topmost of its components that is opaque there. So, at each pixel, the values whose
remaining carriers (tokens not yet explained there) agree on one colour are the visible top; they are
assigned that colour, the carriers that show it are explained, and the next round finds the layer beneath
among the tokens left: the top of a head hidden by hats in most tokens is found among the bareheaded ones.

A value whose carriers agree only because of what lies beneath them (a rare mouth whose few carriers happen
to share one skin) must not take the pixel. Contrast decides: among the remaining tokens whose value of the
same trait type is not a candidate there (those lacking the trait, or with a value transparent there), and
then among those of them that share another trait type's values with the carriers, the colour must be
rare. Parts common to several values of one trait type (the bridge of every pair of glasses) are candidates
for each of those values, so they do not count against each other. Where there is no contrast, only
near-unanimous carriers count, and a colour that several values and nearly every remaining token show is the
collection's base (a background that is not a trait), no value's. A canvas that no trait describes (one colour
along the image border of the pool, no background trait: CryptoPunks' blue-grey) is never any value's colour.

Anti-aliased edges mix two layers: they count for no value while peeling; afterwards each mask gets the ring of
edge pixels that its layer covers at least half of (nearer its colour than the colour further out), and parts
thinner than ``min_thickness`` (chance agreements along other layers' edges) are dropped before that.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from modeling.separation.pixels import DIRECTIONS, blends, colour_distance, matches, opened, shifted

CHUNK = 16384  # pixels handled at a time: bounds the temporaries to (pool size x CHUNK)
ORDER_SAMPLE = 96  # values whose overlaps with the others tell which trait type lies above which
FRINGE_STEPS = 2  # rings of edge pixels added around each mask (an edge pixel upscaled by < 2)
REMOVED = 999  # channel value of a token not counted at a pixel (sorts after every real value)


@dataclass(frozen=True)
class PeelParams:
    tolerance: int
    min_carriers: int = 3  # remaining carriers needed at a pixel to judge a value there
    min_share: float = 0.7  # of them that must show the colour
    contrast_ratio: float = 0.5  # a colour at least this common among the contrast tokens is explained elsewhere
    min_contrast: int = 4  # contrast tokens needed for the test
    unanimous: float = 0.9  # share of carriers that must agree where there is no contrast
    min_thickness: int = 3  # parts of a mask thinner than this (pixels) are dropped; 1 keeps everything
    edges: bool = True  # anti-aliased edges exist (smooth art): blends count for no one, masks get their fringe
    contrast_tokens: int = 256  # tokens, drawn once, on which every contrast is judged (cost stays per value)
    seed: int = 0


@dataclass
class Layer:
    """What the peeling found for one value: per pixel (flattened), opaque or not, its colour and agreement."""

    opaque: np.ndarray  # P bool
    colour: np.ndarray  # P x 3 uint8
    share: np.ndarray  # P float32


def token_bits(token_values: list[set[int]]) -> np.ndarray:
    """One int64 per token with a bit per value index (mod 63; bit 0: no value): set membership in one AND."""
    bits = np.zeros(len(token_values), dtype=np.int64)
    for n, indices in enumerate(token_values):
        for index in indices or {-1}:
            bits[n] |= np.int64(1) << np.int64(index % 63 + 1)
    return bits


def canvas_colour(stack: np.ndarray, trait_of: list[str], tolerance: int, share: float = 0.9) -> np.ndarray | None:
    """The colour of a canvas that no trait describes, or None: one colour on 90 % of the image border over the
    pool (bodies may reach an edge), in a collection without a background trait (CryptoPunks' blue-grey).
    Where most tokens are bare, every value's few carriers agree on it by chance; no value may take it."""
    if any(trait.strip().lower() == "background" for trait in trait_of):
        return None
    border = np.concatenate([stack[:, 0], stack[:, -1], stack[:, :, 0], stack[:, :, -1]], axis=1)
    colour = np.median(border.reshape(-1, 3), axis=0).astype(np.uint8)
    return colour if matches(border, colour, tolerance).mean() >= share else None


def _median_and_share(pixels: np.ndarray, remaining: np.ndarray, tolerance: int) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel of `pixels` (n x C x 3 uint8) over the entries in `remaining` (n x C): the per-channel median
    colour and the fraction within `tolerance` of it."""
    counted = remaining.sum(axis=0)
    values = np.where(remaining[..., None], pixels.astype(np.int16), REMOVED)
    values.sort(axis=0)
    middle = np.maximum((counted - 1) // 2, 0)
    median = np.take_along_axis(values, middle[None, :, None], axis=0)[0].clip(0, 255).astype(np.uint8)
    agree = (matches(pixels, median, tolerance) & remaining).sum(axis=0)
    share = agree / np.maximum(counted, 1)
    return median, share.astype(np.float32)


class TraitType:
    """One trait type's values in the peeling: their indices, each contrast token's values of it (slots), and
    per round which values are candidates where, in what colour."""

    def __init__(self, values: list[int], slots: np.ndarray, n_pixels: int):
        self.values = values  # global value indices, in local order
        self.local = {k: n for n, k in enumerate(values)}
        self.slots = slots  # contrast tokens x K local value indices, -1 for none
        self.candidate = np.zeros((len(values) + 1, n_pixels), dtype=bool)  # last row: "no value", never
        self.colour = np.zeros((len(values), n_pixels, 3), dtype=np.uint8)
        self.covered = np.zeros((len(slots), n_pixels), dtype=bool)

    def cover(self) -> None:
        """Which contrast tokens carry a value of this type that is a candidate at each pixel."""
        self.covered[:] = False
        for column in self.slots.T:
            self.covered |= self.candidate[column]  # -1 picks the last row, all False


class Peeler:
    """Peels one collection's pool of images (N x H x W x 3); `carriers[k]` (N bool) are value k's tokens,
    `trait_of[k]` its trait type, `bits[t]` each token's values of trait type t (see `token_bits`)."""

    def __init__(
        self,
        stack: np.ndarray,
        carriers: list[np.ndarray],
        trait_of: list[str],
        bits: dict[str, np.ndarray],
        params: PeelParams,
    ):
        self.pixels = stack.reshape(len(stack), -1, 3)
        self.shape = stack.shape[1:3]
        self.canvas = canvas_colour(stack, trait_of, params.tolerance)
        self.carriers = carriers
        self.tokens = [np.flatnonzero(c) for c in carriers]
        self.trait_of = trait_of
        self.traits = sorted(set(trait_of))
        self.bits = bits
        self.params = params
        n_tokens, n_pixels = self.pixels.shape[:2]
        rng = np.random.default_rng(params.seed)
        self.sample = np.sort(rng.permutation(n_tokens)[: params.contrast_tokens])  # the contrast tokens
        self.types = {trait: self._trait_type(trait, n_pixels) for trait in self.traits}
        # anti-aliased edges mix two layers: no component explains them, so they never count as carriers
        if params.edges:
            self.remaining = ~np.stack([blends(image, max(params.tolerance, 2)).ravel() for image in stack])
        else:
            self.remaining = np.ones((n_tokens, n_pixels), dtype=bool)
        self.layers = [
            Layer(np.zeros(n_pixels, bool), np.zeros((n_pixels, 3), np.uint8), np.zeros(n_pixels, np.float32))
            for _ in carriers
        ]

    def _trait_type(self, trait: str, n_pixels: int) -> TraitType:
        values = [k for k, t in enumerate(self.trait_of) if t == trait]
        held = [[n for n, k in enumerate(values) if self.carriers[k][i]] for i in self.sample]
        slots = np.full((len(self.sample), max(1, max(map(len, held), default=1))), -1, dtype=np.int64)
        for row, local in enumerate(held):
            slots[row, : len(local)] = local
        return TraitType(values, slots, n_pixels)

    def explained_share(self) -> float:
        """The share of (token, pixel) pairs, outside a canvas that no trait describes, that some value explains."""
        counted = np.ones(self.remaining.shape, dtype=bool)
        if self.canvas is not None:
            counted = ~matches(self.pixels, self.canvas, self.params.tolerance)
        return float((~self.remaining & counted).sum() / max(counted.sum(), 1))

    def run(self, max_rounds: int) -> list[Layer]:
        """Rounds of peeling until nothing changes. Within a round, where several trait types could explain
        the same tokens with the same colour (the neck of a golden body seen in every token still left), the
        trait type whose candidates' carriers agree best goes first, then the one explaining the most tokens
        per value (fewest components); the others then lack carriers."""
        n_pixels = self.pixels.shape[1]
        changed = np.ones(n_pixels, dtype=bool)
        for _ in range(max_rounds):
            found = [self._candidates(k, changed) for k in range(len(self.carriers))]
            explained = np.zeros((len(self.traits), n_pixels), dtype=np.float32)
            counted = np.zeros_like(explained)
            values = np.zeros((len(self.traits), n_pixels), dtype=np.int32)
            for trait in self.types.values():
                trait.candidate[:] = False
            for k, (where, colour, shown, carriers) in enumerate(found):
                trait = self.types[self.trait_of[k]]
                trait.candidate[trait.local[k], where] = True
                trait.colour[trait.local[k], where] = colour
                t = self.traits.index(self.trait_of[k])
                explained[t, where] += shown
                counted[t, where] += carriers
                values[t, where] += 1
            for trait in self.types.values():
                trait.cover()
            agreement = np.floor(50 * explained / np.maximum(counted, 1))  # in steps of 0.02
            priority = agreement * 1e6 + explained / np.maximum(values, 1)
            rank = np.argsort(np.argsort(-priority, axis=0, kind="stable"), axis=0)
            changed = np.zeros(n_pixels, dtype=bool)
            for r in range(len(self.traits)):
                for t, trait in enumerate(self.traits):
                    turn = (rank[t] == r) & (values[t] > 0)
                    if not turn.any():
                        continue
                    members = [k for k in self.types[trait].values if len(found[k][0])]
                    accepted = [self._accepted(k, *found[k][:2], turn) for k in members]
                    for k, (where, colour, share) in zip(members, accepted, strict=True):
                        self._assign(k, where, colour, share)
                        changed[where] = True
            if not changed.any():
                break
        self._drop_contradicted()
        for layer in self.layers:  # lines thinner than the opening are chance agreements at others' edges
            layer.opaque &= opened(layer.opaque.reshape(self.shape), self.params.min_thickness).ravel()
        if self.params.edges:
            for _ in range(FRINGE_STEPS):
                for k in range(len(self.carriers)):
                    self._grow_fringe(k)
        return self.layers

    def _drop_contradicted(self) -> None:
        """Drop the pixels of each value that most of its carriers contradict: they show there, in the colour
        of another value they carry, a trait type that lies beneath this value's wherever the two meet (a body
        under a pair of eyes). A value's last few carriers left at a pixel can agree on anything (five of a
        hundred showing one background where the others show their bodies); a layer hidden by one above it
        (a head under most tokens' hats) is contradicted by nothing, since hats lie above heads."""
        n_tokens, n_pixels = self.pixels.shape[:2]
        opaque = np.concatenate([np.stack([layer.opaque for layer in self.layers]), np.zeros((1, n_pixels), bool)])
        colour = np.concatenate(
            [np.stack([layer.colour for layer in self.layers]), np.zeros((1, n_pixels, 3), np.uint8)]
        )
        value_of = {trait: np.full(n_tokens, -1) for trait in self.traits}  # -1: the empty last row
        for k, tokens in enumerate(self.tokens):
            value_of[self.trait_of[k]][tokens] = k
        above: dict[tuple[str, str], int] = defaultdict(int)  # (upper, lower) -> token pixels showing it so
        tolerance = self.params.tolerance
        rng = np.random.default_rng(self.params.seed)
        sampled = rng.permutation(len(self.tokens))[:ORDER_SAMPLE]  # the order of trait types, from a sample
        for drop, values in ((False, sampled), (True, range(len(self.tokens)))):
            for k in values:
                tokens, mine = self.tokens[k], self.trait_of[k]
                where = np.flatnonzero(self.layers[k].opaque)
                beneath = [t for t in self.traits if t != mine and (not drop or above[(mine, t)] > above[(t, mine)])]
                if not len(where) or not len(tokens) or not beneath:
                    continue
                pixels = self.pixels[np.ix_(tokens, where)]
                shows = matches(pixels, colour[k, where], tolerance)
                against = np.zeros(len(where), dtype=np.int64)
                for trait in beneath:
                    other = value_of[trait][tokens][:, None]
                    covered = opaque[other, where[None]]
                    theirs = covered & matches(pixels, colour[other, where[None]], tolerance)
                    if drop:
                        against += (theirs & ~shows).sum(axis=0)
                    else:
                        above[(trait, mine)] += int((theirs & ~shows).sum())
                        above[(mine, trait)] += int((shows & ~theirs & covered).sum())
                if drop:
                    self.layers[k].opaque[where[against > shows.sum(axis=0)]] = False

    def _grow_fringe(self, k: int) -> None:
        """Add the ring of pixels around value k's mask whose colour, in most carriers that show the component
        next to it, is nearer the component's than the colour further out: where the layer's edge covers at
        least half the pixel (its anti-aliased fringe)."""
        layer, tokens, p = self.layers[k], self.tokens[k], self.params
        if len(tokens) < p.min_carriers or not layer.opaque.any():
            return
        height, width = self.shape
        opaque = layer.opaque.reshape(height, width)
        colour = layer.colour.reshape(height, width, 3)
        images = self.pixels[tokens].reshape(len(tokens), height, width, 3)
        added = np.zeros_like(opaque)
        for dy, dx in DIRECTIONS:
            inner = shifted(opaque, -dy, -dx, fill=False)  # the neighbour towards the mask is in it
            ring = inner & ~opaque & ~added
            ys, xs = np.nonzero(ring)
            if not len(ys):
                continue
            inner_colour = colour[ys - dy, xs - dx]
            here, inside = images[:, ys, xs], images[:, ys - dy, xs - dx]
            near = images[:, np.clip(ys + dy, 0, height - 1), np.clip(xs + dx, 0, width - 1)]
            far = images[:, np.clip(ys + 2 * dy, 0, height - 1), np.clip(xs + 2 * dx, 0, width - 1)]
            outside = np.where(matches(near, here, p.tolerance)[..., None], far, near)  # as `pixels.outward`
            seen = matches(inside, inner_colour, p.tolerance)
            nearer = colour_distance(here, inner_colour) < colour_distance(here, outside)
            votes, counted = (seen & nearer).sum(axis=0), seen.sum(axis=0)
            grow = (counted >= p.min_carriers) & (votes >= 0.5 * counted)
            added[ys[grow], xs[grow]] = True
            colour[ys[grow], xs[grow]] = inner_colour[grow]
        layer.opaque |= added.ravel()
        layer.share[added.ravel()] = 0.5

    def _assign(self, k: int, where: np.ndarray, colour: np.ndarray, share: np.ndarray) -> None:
        """Value k is opaque at `where`: its carriers that show the colour there are explained."""
        if not len(where):
            return
        layer = self.layers[k]
        layer.opaque[where], layer.colour[where], layer.share[where] = True, colour, share
        shows = matches(self.pixels[np.ix_(self.tokens[k], where)], colour, self.params.tolerance)
        self.remaining[np.ix_(self.tokens[k], where)] &= ~shows

    def _candidates(self, k: int, changed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Pixels (indices) where value k's remaining carriers agree, with the colour, how many show it and how
        many there are."""
        tokens, p = self.tokens[k], self.params
        empty = np.zeros(0, np.int64), np.zeros((0, 3), np.uint8), np.zeros(0, np.float32), np.zeros(0, np.int64)
        if len(tokens) < p.min_carriers:
            return empty
        active = np.flatnonzero(~self.layers[k].opaque & changed)
        found = [empty]
        for start in range(0, len(active), CHUNK):
            where = active[start : start + CHUNK]
            remaining = self.remaining[np.ix_(tokens, where)]
            counted = remaining.sum(axis=0)
            enough = counted >= p.min_carriers
            where, remaining, counted = where[enough], remaining[:, enough], counted[enough]
            median, share = _median_and_share(self.pixels[np.ix_(tokens, where)], remaining, p.tolerance)
            good = share >= p.min_share
            if self.canvas is not None:
                good &= ~matches(median, self.canvas, p.tolerance)
            found.append((where[good], median[good], (share * counted)[good], counted[good]))
        return tuple(np.concatenate(parts) for parts in zip(*found, strict=True))  # type: ignore[return-value]

    def _accepted(
        self, k: int, where: np.ndarray, colour: np.ndarray, turn: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Value k's candidate pixels in `turn` that still hold with the tokens left and survive the contrast
        (module docstring), judged on the contrast sample; with their colour and agreement."""
        chosen = turn[where]
        where, colour = where[chosen], colour[chosen]
        if not len(where):
            return where, colour, np.zeros(0, dtype=np.float32)
        p = self.params
        trait_name = self.trait_of[k]
        trait = self.types[trait_name]
        own, sample = self.tokens[k], self.sample
        keep = np.ones(len(where), dtype=bool)
        share = np.zeros(len(where), dtype=np.float32)
        for start in range(0, len(where), CHUNK):
            part = slice(start, start + CHUNK)
            cols, hue = where[part], colour[part]
            carrying = self.remaining[np.ix_(own, cols)]
            counted = carrying.sum(axis=0)
            agreeing = matches(self.pixels[np.ix_(own, cols)], hue, p.tolerance) & carrying
            share[part] = agreeing.sum(axis=0) / np.maximum(counted, 1)
            keep[part] = (counted >= p.min_carriers) & (share[part] >= p.min_share)
            # contrast tokens: remaining there, and no value of this trait type is a candidate there for them
            shows = matches(self.pixels[np.ix_(sample, cols)], hue, p.tolerance)
            left = self.remaining[np.ix_(sample, cols)]
            contrast = left & ~trait.covered[:, cols]
            limit = p.contrast_ratio * share[part]
            keep[part] &= ~self._explained(shows, contrast, limit)
            # no contrast to judge by: only near-unanimous carriers; a value that they agree on only because
            # of what lies beneath (a skin most of them share) waits until that layer has been peeled; and a
            # colour that several values of the trait type and nearly every token left show there is part of
            # every token (the base character of a collection whose bodies are not a trait, the background of
            # every punk), not of this trait
            uncontrasted = contrast.sum(axis=0) < p.min_contrast
            if uncontrasted.any():
                at = cols[uncontrasted]
                same = trait.candidate[:-1, at] & matches(trait.colour[:, at], hue[uncontrasted], p.tolerance)
                everyone = (shows[:, uncontrasted] & left[:, uncontrasted]).sum(axis=0) >= p.unanimous * left[
                    :, uncontrasted
                ].sum(axis=0)
                common = (same.sum(axis=0) > 1) & everyone
                keep[start + np.flatnonzero(uncontrasted)] &= (share[part][uncontrasted] >= p.unanimous) & ~common
            # then the contrast tokens that share another trait type's values with the carriers
            judged = np.flatnonzero(keep[part] & ~uncontrasted)
            if not len(judged):
                continue
            shows, contrast, agreeing, limit = shows[:, judged], contrast[:, judged], agreeing[:, judged], limit[judged]
            refuted = np.zeros(len(judged), dtype=bool)
            for other, bits in self.bits.items():
                if other != trait_name:  # the values of `other` that the carriers showing the colour have
                    theirs = np.bitwise_or.reduce(np.where(agreeing, bits[own][:, None], 0), axis=0)
                    sharing = contrast & ((bits[sample][:, None] & theirs[None]) != 0)
                    refuted |= self._explained(shows, sharing, limit)
            keep[start + judged[refuted]] = False
        return where[keep], colour[keep], share[keep]

    def _explained(self, shows: np.ndarray, tokens: np.ndarray, limit: np.ndarray) -> np.ndarray:
        """Per pixel: enough `tokens` there, and at least `limit` of them show the colour."""
        counted = tokens.sum(axis=0)
        rate = (shows & tokens).sum(axis=0) / np.maximum(counted, 1)
        return (counted >= self.params.min_contrast) & (rate >= limit)
