"""How much of a token masking hides, and what the masker's fixed colour tolerance adds (issue 28's suspects).

For training tokens of an export with the ``components`` config, at each p (policy ``constant``, masks at full
size, as ``--mask-at full``): the share of the image's pixels filled, the share of the token's traits dropped
from its caption, and the share of tokens that lose at least half of the components that show in them.
Then the tolerance: the pixels each carried component counts as showing under the masker's default tolerance
(24 per channel) against under the collection's own (estimated by separation, stored in the library; 0 for
lossless art): extra is what the default adds, as a share of what the collection's own finds.

    python benchmarks/mask_share.py --dataset DIR [--tokens 300] [--ps 0.15 0.3 0.5]
"""

from __future__ import annotations

import argparse

import numpy as np
from datasets import load_dataset

from modeling.masking.masker import DynamicMasker
from modeling.separation.library import ComponentLibrary


def share_hidden(masker: DynamicMasker, rows, p: float, seed: int) -> dict[str, float]:
    """Mean pixel share filled, share of the token's traits dropped, and share of tokens losing half their shown
    components."""
    pixels, traits, half = [], [], []
    for index, row in enumerate(rows):
        image = np.asarray(row["image"].convert("RGB"))
        shown = masker.candidates(image, row["collection"], row["attributes"])
        sample = masker(image, row["collection"], row["attributes"], np.random.default_rng([seed, index]), p)
        pixels.append(0.0 if sample.pixels is None else sample.pixels.mean())
        traits.append(len(sample.masked) / max(len(row["attributes"]), 1))
        half.append(bool(shown) and len(sample.masked) >= len(shown) / 2)
    return {"pixels": float(np.mean(pixels)), "traits": float(np.mean(traits)), "half": float(np.mean(half))}


def tolerance_extra(library: ComponentLibrary, rows, default: int) -> tuple[float, int]:
    """Pixels counted as showing under `default` beyond those under each collection's own tolerance, as a share
    of the latter, and the collections' own tolerances (the largest)."""
    maskers: dict[int, DynamicMasker] = {}

    def shown_pixels(tolerance: int, row, image: np.ndarray) -> int:
        masker = maskers.setdefault(tolerance, DynamicMasker(library, tolerance=tolerance))
        return int(sum(mask.sum() for mask in masker.candidates(image, row["collection"], row["attributes"]).values()))

    found_own = found_wide = largest = 0
    for row in rows:
        own = int(library.info(row["collection"]).get("tolerance", default))
        image = np.asarray(row["image"].convert("RGB"))
        found_own += shown_pixels(own, row, image)
        found_wide += shown_pixels(default, row, image)
        largest = max(largest, own)
    return (found_wide - found_own) / max(found_own, 1), largest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--config", default="full")
    parser.add_argument("--split", default="train")
    parser.add_argument("--tokens", type=int, default=300, help="training tokens measured (the first N)")
    parser.add_argument("--ps", type=float, nargs="+", default=[0.15, 0.3, 0.5])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = load_dataset(args.dataset, args.config, split=args.split)
    rows = rows.select(range(min(args.tokens, rows.num_rows)))
    library = ComponentLibrary.load(args.dataset)
    masker = DynamicMasker(library)
    print(f"{rows.num_rows} training tokens of {sorted(set(rows['collection']))}\n")
    print("| p | pixels filled | traits dropped | tokens losing half their shown components |")
    print("| ---: | ---: | ---: | ---: |")
    for p in args.ps:
        share = share_hidden(masker, rows, p, args.seed)
        print(f"| {p} | {share['pixels']:.1%} | {share['traits']:.1%} | {share['half']:.1%} |")
    extra, own = tolerance_extra(library, rows, masker.tolerance)
    print(
        f"\ntolerance {masker.tolerance} (the masker's) against the collection's own ({own}): "
        f"{extra:+.1%} pixels counted as showing"
    )


if __name__ == "__main__":
    main()
