"""Comprehensive Variance Index (CVI), NFT1000 paper (ACM MM 2024), 6.3, equation (1), as an `evaluate` metric.

The computation is `compute_cvi` in `cvi_index.py` beside this file (numpy only; in the `nft1000` package it is
`evaluation.cvi.compute_cvi`, usable on arrays without `evaluate`'s Arrow buffering); this module only adapts it
to `add_batch` / `compute`. `evaluate` copies the relatively imported file along, so the folder is complete.
"""

import datasets
import evaluate
import numpy as np

from .cvi_index import CviOptions, compute_cvi

_CITATION = """\
@inproceedings{nft1000,
  title     = {NFT1000: A Cross-Modal Dataset For Non-Fungible Token Retrieval},
  author    = {Wang, Shuxun and others},
  booktitle = {Proceedings of the 32nd ACM International Conference on Multimedia (MM '24)},
  year      = {2024}
}
"""

_DESCRIPTION = """\
The Comprehensive Variance Index measures how alike a set of image-text pairs looks to a model: the mean
variance of the rows of the image-image, text-text and text-image similarity matrices,
CVI = (alpha * image_image + (1 - alpha) * text_text + text_image) / 2. Low CVI means similar pairs and hard
retrieval. Computed exactly from moments of the embeddings: no N x N matrix.
"""

_KWARGS_DESCRIPTION = """
Args:
    image_embeds (`list` of `list` of `float`): one image embedding per pair (N x d).
    text_embeds (`list` of `list` of `float`): the paired text embeddings, in the same order (N x d).
    alpha (`float`, defaults to 0.7): weight of image-image against text-text similarity (the paper's best).
    normalize (`bool`, defaults to True): L2-normalise the embeddings, so dot products are cosines.
    include_diagonal (`bool`, defaults to True): keep each row's own entry (self-similarity, paired score), as
        equation (1) is written; False drops it.
    similarity (`str`, defaults to "cosine"): "cosine" (raw dot products, as written) or "softmax" (the
        variance of each row's softmax probabilities at `temperature`).
    temperature (`float`, defaults to 100.0): the model's logit scale, for similarity="softmax".
Returns:
    cvi (`float`): the index.
    image_image (`float`), text_text (`float`), text_image (`float`): the three mean row variances.
Examples:
    >>> cvi = evaluate.load("evaluation/cvi")
    >>> cvi.compute(image_embeds=[[1.0, 0.0], [0.0, 1.0]], text_embeds=[[1.0, 0.0], [0.0, 1.0]])
    {'cvi': 0.25, 'image_image': 0.25, 'text_text': 0.25, 'text_image': 0.25}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class CVI(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "image_embeds": datasets.List(datasets.Value("float32")),
                    "text_embeds": datasets.List(datasets.Value("float32")),
                }
            ),
            reference_urls=["https://dl.acm.org/doi/10.1145/3664647.3680686"],
        )

    def _compute(
        self,
        image_embeds,
        text_embeds,
        alpha: float = 0.7,
        normalize: bool = True,
        include_diagonal: bool = True,
        similarity: str = "cosine",
        temperature: float = 100.0,
    ):
        options = CviOptions(
            alpha=alpha,
            normalize=normalize,
            include_diagonal=include_diagonal,
            similarity=similarity,
            temperature=temperature,
        )
        return compute_cvi(_stack(image_embeds), _stack(text_embeds), options)


def _stack(column) -> np.ndarray:
    """Rows of one length as an N x d float array (evaluate hands ragged input over as an object array)."""
    if isinstance(column, np.ndarray) and column.dtype != object:
        return column
    lengths = {len(row) for row in column}
    if len(lengths) > 1:
        raise ValueError(f"embeddings of different lengths: {sorted(lengths)}")
    return np.stack([np.asarray(row, dtype=np.float32) for row in column]) if len(column) else np.zeros((0, 0))
