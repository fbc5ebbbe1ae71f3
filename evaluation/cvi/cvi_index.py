"""The Comprehensive Variance Index (NFT1000 paper, 6.3, equation 1) of a set of image-text pairs.

    CVI = 1 / (2N) * (alpha * sum_i var(S_II[i]) + (1 - alpha) * sum_i var(S_TT[i]) + sum_i var(S_TI[i]))

with S_II = I I^T, S_TT = T T^T, S_TI = T I^T and var the population variance of a row. Low CVI: the pairs look
alike to the model, retrieval among them is hard. Returned with its three parts, each the mean row variance
(so CVI = (alpha * image_image + (1 - alpha) * text_text + text_image) / 2).

No N x N matrix is formed. The variance of row i of X Y^T over j is x_i^T C_Y x_i - (x_i . mean(Y))^2 with
C_Y = Y^T Y / N, so the sum over rows is N tr(C_X C_Y) - N mean(Y)^T C_X mean(Y): two d x d moment matrices,
accumulated over row chunks in float64. Choices the paper leaves open, as options:

* ``include_diagonal`` (default True, as written): row i of S_II and S_TT includes the self-similarity (1 for
  normalised embeddings) and row i of S_TI its paired score. False drops entry i of row i (per-row quadratic
  forms, still chunked, about 3x slower).
* ``similarity="softmax"``: the variance of each row's softmax probabilities at the model's temperature (CLIP's
  ``logit_scale.exp()``, 100 by default) instead of raw cosines; exact by a streamed log-sum-exp over gallery
  chunks, bounded memory but O(N^2 d) time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PARTS = ("image_image", "text_text", "text_image")


@dataclass(frozen=True)
class CviOptions:
    alpha: float = 0.7
    normalize: bool = True
    include_diagonal: bool = True
    similarity: str = "cosine"  # or "softmax"
    temperature: float = 100.0
    chunk_size: int = 8192


def _check(image_embeds, text_embeds, options: CviOptions) -> tuple[np.ndarray, np.ndarray]:
    images, texts = np.asarray(image_embeds), np.asarray(text_embeds)
    if images.ndim != 2 or texts.ndim != 2:
        raise ValueError(f"embeddings must be N x d arrays, got shapes {images.shape} and {texts.shape}")
    if images.shape != texts.shape:
        raise ValueError(f"image_embeds {images.shape} and text_embeds {texts.shape} must be pairs of one shape")
    if images.shape[0] < 2 or images.shape[1] == 0:
        raise ValueError(f"CVI needs at least 2 pairs of non-empty embeddings, got shape {images.shape}")
    for rows in _chunks(images.shape[0], options.chunk_size):  # in chunks: no N x d temporary
        if not (np.isfinite(images[rows]).all() and np.isfinite(texts[rows]).all()):
            raise ValueError(f"embeddings contain NaN or infinite values (rows {rows.start}-{rows.stop - 1})")
    if not 0.0 <= options.alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {options.alpha}")
    if options.similarity not in ("cosine", "softmax"):
        raise ValueError(f"similarity must be 'cosine' or 'softmax', got {options.similarity!r}")
    if images.dtype not in (np.float32, np.float64):
        images, texts = images.astype(np.float32), texts.astype(np.float32)
    return images, texts


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _rows(array: np.ndarray, rows: slice, normalize: bool) -> np.ndarray:
    block = array[rows]
    if normalize:
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        block = block / np.where(norms == 0, 1, norms)
    return block


def _moments(array: np.ndarray, options: CviOptions) -> tuple[np.ndarray, np.ndarray]:
    """Second-moment matrix Y^T Y / N and mean of Y, accumulated over row chunks in float64."""
    n, d = array.shape
    second, total = np.zeros((d, d)), np.zeros(d)
    for rows in _chunks(n, options.chunk_size):
        block = _rows(array, rows, options.normalize)
        second += (block.T @ block).astype(np.float64)
        total += block.sum(axis=0, dtype=np.float64)
    return second / n, total / n


def _sum_row_variances(second_x, mean_x, second_y, mean_y, n: int) -> float:
    """sum_i var_j(x_i . y_j) from the moments of X and Y (diagonal included)."""
    return float(n * np.sum(second_x * second_y) - n * mean_y @ second_x @ mean_y)


def _sum_row_variances_off_diagonal(x, y, second_y, mean_y, options: CviOptions) -> float:
    """sum_i var_{j != i}(x_i . y_j): per-row sums of s and s^2 minus the diagonal term."""
    n = x.shape[0]
    total = 0.0
    for rows in _chunks(n, options.chunk_size):
        xb = _rows(x, rows, options.normalize).astype(np.float64)
        yb = _rows(y, rows, options.normalize).astype(np.float64)
        diagonal = np.einsum("ij,ij->i", xb, yb)
        sums = n * (xb @ mean_y) - diagonal
        squares = n * np.einsum("ij,jk,ik->i", xb, second_y, xb) - diagonal**2
        total += float(np.sum(squares / (n - 1) - (sums / (n - 1)) ** 2))
    return total


def _sum_softmax_variances(x, y, options: CviOptions) -> float:
    """sum_i var_j(softmax_j(t * x_i . y_j)) by streamed log-sum-exp of t*s and 2*t*s over gallery chunks."""
    n = x.shape[0]
    total = 0.0
    size = max(1, options.chunk_size // 8)
    for rows in _chunks(n, size):
        xb = _rows(x, rows, options.normalize).astype(np.float64)
        lse1 = np.full(xb.shape[0], -np.inf)
        lse2 = np.full(xb.shape[0], -np.inf)
        count = np.zeros(xb.shape[0])
        for cols in _chunks(n, options.chunk_size):
            logits = options.temperature * (xb @ _rows(y, cols, options.normalize).astype(np.float64).T)
            if not options.include_diagonal:
                index = np.arange(rows.start, rows.stop)
                inside = (index >= cols.start) & (index < cols.stop)
                logits[np.nonzero(inside)[0], index[inside] - cols.start] = -np.inf
            lse1 = np.logaddexp(lse1, _logsumexp(logits))
            lse2 = np.logaddexp(lse2, _logsumexp(2 * logits))
            count += np.isfinite(logits).sum(axis=1)
        mean_square = np.exp(lse2 - 2 * lse1) / count  # sum_j p_j^2 / m
        total += float(np.sum(mean_square - (1.0 / count) ** 2))
    return total


def _logsumexp(logits: np.ndarray) -> np.ndarray:
    top = logits.max(axis=1)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):  # a row whose chunk is all -inf (its own entry left out) gives -inf
        return safe + np.log(np.exp(logits - safe[:, None]).sum(axis=1))


def compute_cvi(image_embeds, text_embeds, options: CviOptions | None = None, **kwargs) -> dict[str, float]:
    """CVI and its three parts (mean row variances) of paired embeddings (N x d each, row i a pair).

    Keyword arguments set `CviOptions` fields (``alpha``, ``normalize``, ``include_diagonal``, ``similarity``,
    ``temperature``, ``chunk_size``).
    """
    options = options or CviOptions(**kwargs)
    images, texts = _check(image_embeds, text_embeds, options)
    n = images.shape[0]
    pairs = {"image_image": (images, images), "text_text": (texts, texts), "text_image": (texts, images)}
    sums = {}
    if options.similarity == "softmax":
        sums = {name: _sum_softmax_variances(x, y, options) for name, (x, y) in pairs.items()}
    else:
        moments = {"image": _moments(images, options), "text": _moments(texts, options)}
        which = {"image_image": ("image", "image"), "text_text": ("text", "text"), "text_image": ("text", "image")}
        for name, (x, y) in pairs.items():
            (second_x, mean_x), (second_y, mean_y) = moments[which[name][0]], moments[which[name][1]]
            if options.include_diagonal:
                sums[name] = _sum_row_variances(second_x, mean_x, second_y, mean_y, n)
            else:
                sums[name] = _sum_row_variances_off_diagonal(x, y, second_y, mean_y, options)
    parts = {name: max(0.0, value / n) for name, value in sums.items()}  # clip rounding below zero
    cvi = (options.alpha * parts["image_image"] + (1 - options.alpha) * parts["text_text"] + parts["text_image"]) / 2
    if not math.isfinite(cvi):
        raise ValueError("CVI is not finite (check the embeddings)")
    return {"cvi": cvi, **parts}


def cvi_by_definition(image_embeds, text_embeds, options: CviOptions | None = None, **kwargs) -> dict[str, float]:
    """Equation (1) with the N x N matrices formed (the reference the fast path is tested against)."""
    options = options or CviOptions(**kwargs)
    images, texts = (np.asarray(a, dtype=np.float64) for a in _check(image_embeds, text_embeds, options))
    if options.normalize:
        images = images / np.linalg.norm(images, axis=1, keepdims=True)
        texts = texts / np.linalg.norm(texts, axis=1, keepdims=True)
    parts = {}
    for name, (x, y) in {
        "image_image": (images, images),
        "text_text": (texts, texts),
        "text_image": (texts, images),
    }.items():
        scores = x @ y.T
        if options.similarity == "softmax":
            logits = options.temperature * scores
            if not options.include_diagonal:
                np.fill_diagonal(logits, -np.inf)
            scores = np.exp(logits - logits.max(axis=1, keepdims=True))
            scores /= scores.sum(axis=1, keepdims=True)
        if not options.include_diagonal:
            mask = ~np.eye(len(scores), dtype=bool)
            scores = scores[mask].reshape(len(scores), -1)
        parts[name] = float(scores.var(axis=1).mean())
    cvi = (options.alpha * parts["image_image"] + (1 - options.alpha) * parts["text_text"] + parts["text_image"]) / 2
    return {"cvi": cvi, **parts}
