"""The data collator for `CLIPModel` with dynamic masking.

    collator = DynamicMaskingCollator(processor, library, mask_prob=0.5, seed=0)
    loader = DataLoader(dataset["train"], batch_size=256, collate_fn=collator, num_workers=4)
    batch = next(iter(loader))  # pixel_values, input_ids, attention_mask

Rows are dataset rows (``image``, ``collection``, ``attributes``, ``caption``). Image work is done on uint8 arrays;
for processors that resize the shortest edge and centre-crop (CLIP's), resizing, cropping and normalising are done
here with Pillow and numpy exactly as the processor's Pillow backend does them, and masking works on the resized
image (components resized once per collection, shown masks grown by a pixel to cover edges blended by the resize)
unless ``mask_at="full"``; for other processors masking works at full size and the processor is called. Mask at full
size where the resize shrinks features to a pixel or less (pixel art for a 32-px model: on CryptoPunks at 32 px the
resized-size masks cover 82 % of what full-size masking hides, at 64 px 98.5 %); it costs a resize for every masked
image. The masks of a row depend only on (seed, epoch, the row's collection and token id): the same with any number
of DataLoader workers, in any batch order, and after resuming mid-epoch; call `set_epoch` before each epoch so that
masks differ between epochs. The epoch lives in shared memory (as in `datasets.IterableDataset`), so it reaches
workers kept with ``persistent_workers=True`` too. Rows with a ``token_id`` keep their resized image in an LRU of at
most `image_cache_bytes` (each worker its own): where a few thousand pairs are trained on for many epochs (the data-
scarce setting), decoding and resizing are done once per image instead of once per epoch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import torch
from PIL import Image

from modeling.byte_cache import ByteLRU
from modeling.images import decoded
from modeling.masking.masker import DEFAULT_WINDOW_BYTES, DynamicMasker
from modeling.masking.policy import DEFAULT_MASK_PROB, DEFAULT_POLICY, MaskingPolicy
from modeling.separation.library import ComponentLibrary

DEFAULT_IMAGE_CACHE_BYTES = 256 * 2**20  # 21,000 images at 64 px, 1,700 at 224 px
MASK_SIZES = ("resized", "full")  # where masking works on the fast path: at the processor's size or the image's


class ImagePipeline:
    """Resize (shortest edge), centre-crop, rescale and normalise as a CLIP image processor does."""

    def __init__(self, image_processor):
        self.image_processor = image_processor
        size = getattr(image_processor, "size", None) or {}
        crop = getattr(image_processor, "crop_size", None) or {}
        self.shortest_edge = size.get("shortest_edge") if hasattr(size, "get") else None
        self.crop_size = (crop.get("height"), crop.get("width")) if hasattr(crop, "get") else (None, None)
        simple = (
            self.shortest_edge
            and all(self.crop_size)
            and getattr(image_processor, "do_resize", False)
            and getattr(image_processor, "do_center_crop", False)
            and getattr(image_processor, "do_rescale", False)
            and getattr(image_processor, "do_normalize", False)
        )
        self.fast = bool(simple)
        if self.fast:
            self.resample = Image.Resampling(int(image_processor.resample))
            scale = torch.tensor(image_processor.rescale_factor, dtype=torch.float32)
            mean = torch.tensor(image_processor.image_mean, dtype=torch.float32)[:, None, None]
            std = torch.tensor(image_processor.image_std, dtype=torch.float32)[:, None, None]
            self.gain, self.offset = scale / std, -mean / std  # (x * scale - mean) / std in one multiply-add

    def resize(self, image: Image.Image | np.ndarray) -> np.ndarray:
        """Shortest edge to the processor's size (fast path only), as uint8: masking can work at this size."""
        picture = image if isinstance(image, Image.Image) else Image.fromarray(image)
        width, height = picture.size
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = self.shortest_edge, int(self.shortest_edge * long / short)
        size = (new_short, new_long) if width <= height else (new_long, new_short)  # PIL wants (w, h)
        return np.asarray(picture.resize(size, resample=self.resample))

    def crop(self, resized: np.ndarray) -> np.ndarray:
        """The centre crop of a resized uint8 image (a view)."""
        crop_h, crop_w = self.crop_size
        top, left = (resized.shape[0] - crop_h) // 2, (resized.shape[1] - crop_w) // 2
        return resized[top : top + crop_h, left : left + crop_w]

    def finish(self, resized: list[np.ndarray]) -> torch.Tensor:
        """Centre-crop, rescale and normalise resized uint8 images: N x C x H x W float32. The batch is made
        channels-first while still uint8 (cheap for masked images, stored by channel), then normalised with one
        multiply and one add over the whole batch."""
        crops = np.stack([self.crop(image).transpose(2, 0, 1) for image in resized])
        return torch.from_numpy(crops).float().mul_(self.gain).add_(self.offset)

    def __call__(self, images: list[np.ndarray], resized: bool = False) -> torch.Tensor:
        if not self.fast:
            return self.image_processor(images=images, return_tensors="pt")["pixel_values"]
        return self.finish(images if resized else [self.resize(i) for i in images])


class DynamicMaskingCollator:
    """Masks components with probability `mask_prob`, varied over epochs and collections by `mask_policy`
    (`modeling.masking.policy`: ``decay`` needs `num_epochs`, ``scarcity`` the `collection_scale` of
    `scarcity_scales`), then builds CLIP inputs. Picklable."""

    def __init__(
        self,
        processor=None,
        library: ComponentLibrary | None = None,
        *,
        image_processor=None,
        tokenizer=None,
        mask_prob: float = DEFAULT_MASK_PROB,
        mask_policy: str = DEFAULT_POLICY,
        num_epochs: int | None = None,
        collection_scale: Mapping[str, float] | None = None,
        mode: str = DynamicMasker.mode,
        fill: str = DynamicMasker.fill,
        mask_at: str = "resized",
        tolerance: int = DynamicMasker.tolerance,
        seed: int = 0,
        max_length: int = 77,
        window_cache_bytes: int = DEFAULT_WINDOW_BYTES,
        image_cache_bytes: int = DEFAULT_IMAGE_CACHE_BYTES,
    ):
        self.image_processor = image_processor or processor.image_processor
        self.tokenizer = tokenizer or processor.tokenizer
        self.pipeline = ImagePipeline(self.image_processor)
        if mask_prob > 0 and library is None:
            raise ValueError("mask_prob > 0 needs a component library (run `nft1000 components` first)")
        if mask_at not in MASK_SIZES:
            raise ValueError(f"mask_at must be one of {MASK_SIZES}, got {mask_at!r}")
        self.mask_resized = self.pipeline.fast and mask_at == "resized"
        self.masker = (
            DynamicMasker(
                library,
                mask_prob=mask_prob,
                mode=mode,
                fill=fill,
                tolerance=tolerance,
                dilate=int(self.mask_resized),
                cache_bytes=window_cache_bytes,
            )
            if library is not None
            else None
        )
        self.resized = ByteLRU(image_cache_bytes)  # (collection, token id) -> resized uint8 image, read-only
        self.policy = MaskingPolicy(mask_prob, mask_policy, num_epochs, dict(collection_scale or {}))
        self.mask_prob = mask_prob
        self.seed = seed
        self.max_length = max_length
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()  # seen by persistent workers

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        self._epoch.fill_(epoch)

    def row_generator(self, row: dict) -> np.random.Generator:
        """The generator of one row's masking, seeded by (seed, epoch, collection, token id or caption)."""
        key = f"{row.get('collection', '')}\0{row.get('token_id') or row.get('caption', '')}"
        digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
        return np.random.default_rng([self.seed, self.epoch, digest])

    def mask_rows(self, rows: list[dict]) -> tuple[list[np.ndarray], list[str]]:
        """The (possibly masked) images and their captions; on the fast path the images come back resized to
        the processor's size, masked at that size or, with ``mask_at="full"``, masked at full size then resized."""
        images, captions = [], []
        for row in rows:
            rng = None if self.masker is None or self.mask_prob == 0 else self.row_generator(row)
            p = 0.0 if rng is None else self.policy.probability(row["collection"], self.epoch, rng)
            if p == 0:  # intact: the pair as the unmasked run sees it
                images.append(self.resized_image(row) if self.pipeline.fast else np.asarray(decoded(row["image"])))
                captions.append(row["caption"])
                continue
            image = self.resized_image(row) if self.mask_resized else np.asarray(decoded(row["image"]))
            sample = self.masker(image, row["collection"], row["attributes"], rng, p)
            if self.pipeline.fast and not self.mask_resized:
                image = self.pipeline.resize(sample.image) if sample.masked else self.resized_image(row, image)
            else:
                image = sample.image
            images.append(image)
            captions.append(sample.caption)
        return images, captions

    def resized_image(self, row: dict, full_size: np.ndarray | None = None) -> np.ndarray:
        """The row's image at the processor's size, from the cache when the row was met before (else resized from
        `full_size`, the row's image already decoded, or decoded here)."""
        key = (row.get("collection"), row.get("token_id"))
        image = self.resized.get(key) if key[1] is not None else None
        if image is None:
            image = self.pipeline.resize(decoded(row["image"]) if full_size is None else full_size)
            image.setflags(write=False)  # shared by every later batch: masking works on copies
            if key[1] is not None:
                self.resized.put(key, image, image.nbytes)
        return image

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        images, captions = self.mask_rows(rows)
        text = self.tokenizer(captions, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        return {
            "pixel_values": self.pipeline(images, resized=self.pipeline.fast),
            "input_ids": text["input_ids"],
            "attention_mask": text["attention_mask"],
        }
