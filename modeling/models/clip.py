"""CLIP models and processors: any checkpoint name or path, or ``tiny``, a small CLIP built offline.

``tiny`` is a `CLIPModel` from a small `CLIPConfig` with a real `CLIPTokenizer` whose BPE vocabulary is trained
on the training captions; `save_pretrained` writes both, so the result loads with `from_pretrained` exactly as a
Hub checkpoint does.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled
from transformers import AutoTokenizer, CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor

from modeling.models.tokenizer import train_clip_tokenizer
from nft1000_io.hub import looks_local

logger = logging.getLogger(__name__)

TINY = "tiny"
DEFAULT_MODEL = "openai/clip-vit-base-patch32"


@dataclass(frozen=True)
class TinyClipSpec:
    """Size of the offline CLIP (both towers are transformers of this width and depth)."""

    image_size: int = 64
    patch_size: int = 8
    hidden_size: int = 128
    layers: int = 4
    heads: int = 4
    projection_dim: int = 128
    vocab_size: int = 2048
    max_length: int = 77


def build_tiny_clip(
    captions: Iterable[str], spec: TinyClipSpec = TinyClipSpec(), attn_implementation: str | None = None
) -> tuple[CLIPModel, CLIPProcessor]:
    """A randomly initialised small CLIP and its processor, the tokenizer trained on `captions`."""
    tokenizer = train_clip_tokenizer(captions, vocab_size=spec.vocab_size)
    tokenizer.model_max_length = spec.max_length
    tower = {
        "hidden_size": spec.hidden_size,
        "intermediate_size": 4 * spec.hidden_size,
        "num_hidden_layers": spec.layers,
        "num_attention_heads": spec.heads,
    }
    config = CLIPConfig(
        text_config={
            **tower,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": spec.max_length,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={**tower, "image_size": spec.image_size, "patch_size": spec.patch_size},
        projection_dim=spec.projection_dim,
        attn_implementation=attn_implementation,
    )
    image_processor = CLIPImageProcessorPil(  # CLIP's reference preprocessing, with or without torchvision
        size={"shortest_edge": spec.image_size}, crop_size={"height": spec.image_size, "width": spec.image_size}
    )
    return CLIPModel(config), CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)


IMAGE_BACKEND = "pil"  # transformers' reference CLIP preprocessing: the same pixels whether torchvision is there


def missing_folder(name_or_path: str, what: str) -> None:
    """Raise FileNotFoundError, with the nearest names, for a `name_or_path` meant as a local folder
    (`looks_local`) that is not there; Hub ids and existing paths pass."""
    path = Path(name_or_path).expanduser()
    if path.exists() or not looks_local(name_or_path):
        return
    siblings = [p.name for p in path.parent.iterdir() if p.is_dir()] if path.parent.is_dir() else []
    near = difflib.get_close_matches(path.name, siblings, n=3)
    hint = f"; did you mean {' or '.join(str(path.parent / n) for n in near)}?" if near else ""
    raise FileNotFoundError(f"{name_or_path}: no such {what}{hint}")


def load_clip(
    name_or_path: str,
    captions: Iterable[str] | None = None,
    spec: TinyClipSpec = TinyClipSpec(),
    attn_implementation: str | None = None,
    *,
    revision: str = "main",
    cache_dir: str | None = None,
    tokenizer_name: str | None = None,
) -> tuple[CLIPModel, CLIPProcessor]:
    """`tiny` (needs `captions`), or a Hub name or local folder; offline with a Hub name is a clear error.
    `attn_implementation` as transformers takes it (`sdpa`, `eager`, `flash_attention_2`; None: its default);
    `revision` and `cache_dir` as `from_pretrained` takes them; `tokenizer_name` replaces the checkpoint's
    tokenizer (run_clip.py's ``--tokenizer_name``)."""
    if name_or_path == TINY:
        if captions is None:
            raise ValueError("--model tiny trains its tokenizer on the training captions: pass them")
        model, processor = build_tiny_clip(captions, spec, attn_implementation)
    else:
        model, processor = _pretrained_clip(name_or_path, attn_implementation, revision, cache_dir)
    if tokenizer_name:
        missing_folder(tokenizer_name, "tokenizer folder")
        processor.tokenizer = AutoTokenizer.from_pretrained(tokenizer_name, revision=revision, cache_dir=cache_dir)
    return model, processor


def _pretrained_clip(
    name_or_path: str, attn_implementation: str | None, revision: str, cache_dir: str | None
) -> tuple[CLIPModel, CLIPProcessor]:
    missing_folder(name_or_path, "model folder")
    where = {"revision": revision, "cache_dir": cache_dir}
    try:
        model = CLIPModel.from_pretrained(name_or_path, attn_implementation=attn_implementation, **where)
        return model, CLIPProcessor.from_pretrained(name_or_path, backend=IMAGE_BACKEND, **where)
    except (OSError, OfflineModeIsEnabled, LocalEntryNotFoundError) as err:
        if Path(name_or_path).is_dir():
            raise RuntimeError(f"{name_or_path}: not a CLIP model saved with save_pretrained ({err})") from err
        raise RuntimeError(
            f"cannot load the CLIP model {name_or_path!r}: {str(err).rstrip('.')}. Without access to the Hub use "
            "`--model tiny` "
            "(a small CLIP built from a config, offline) or a local folder saved with save_pretrained."
        ) from err
