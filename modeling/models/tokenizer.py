"""A real `CLIPTokenizer` whose BPE vocabulary is trained on captions (offline stand-in for CLIP's own)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import CLIPTokenizer


def train_clip_tokenizer(captions: Iterable[str], vocab_size: int = 4096) -> CLIPTokenizer:
    """Train byte-level BPE with CLIP's normalisation, pre-tokenisation and ``</w>`` word ends."""
    template = CLIPTokenizer()  # an empty CLIP tokenizer: its pipeline, no vocabulary
    bos, eos = template.bos_token, template.eos_token
    backend = Tokenizer(models.BPE(end_of_word_suffix="</w>", unk_token=eos))
    backend.normalizer = template.backend_tokenizer.normalizer
    backend.pre_tokenizer = template.backend_tokenizer.pre_tokenizer
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[bos, eos],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        end_of_word_suffix="</w>",
        show_progress=False,
    )
    backend.train_from_iterator(captions, trainer=trainer)
    model = json.loads(backend.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    # every byte as a word part and as a whole word, as CLIP's own vocabulary has: otherwise a one-character
    # word never seen in training ("0" in "Pixel Ghosts 0") becomes the unknown token, which is the end token,
    # and the text model's pooling (at the first end token) would cut the caption there
    vocab = dict(model["vocab"])
    for char in pre_tokenizers.ByteLevel.alphabet():
        for token in (char, char + "</w>"):
            vocab.setdefault(token, len(vocab))
    return CLIPTokenizer(vocab=canonical_ids(vocab, merges, [bos, eos]), merges=merges)


def canonical_ids(vocab: dict[str, int], merges: list[tuple[str, str]], specials: list[str]) -> dict[str, int]:
    """Token ids that do not depend on hash order: the trainer learns the same merges every run but numbers
    its alphabet in the order of a hash map. Specials, then the alphabet sorted, then merges in order."""
    merged = list(dict.fromkeys("".join(pair) for pair in merges))
    alphabet = sorted(set(vocab) - set(merged) - set(specials))
    order = [*specials, *alphabet, *merged]
    if sorted(order) != sorted(vocab):
        raise RuntimeError("trained BPE vocabulary does not match its merges")
    return {token: i for i, token in enumerate(order)}
