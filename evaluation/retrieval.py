"""Exact top-k retrieval metrics in chunks, with memory that does not grow with N squared.

A query is a hit at k when its target's score is at least the k-th largest score of the gallery: at most
k - 1 gallery items score strictly higher (ties count in the query's favour). Each query chunk is scored against
each gallery chunk in turn, keeping only a running top-K of scores per query (K = the largest k), so memory is
O(query_chunk x (gallery_chunk + K)) whatever N is. Two targets are reported:

* ``paired``: the paper's metric, the item paired with the query (same row);
* ``attribute_exact``: any item in the query's group (e.g. tokens of one collection with identical attributes,
  hence identical captions) counts; its score is the best score over the group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .topk import RunningTopK

DEFAULT_KS = (1, 5, 10)


def _as_tensor(array, device=None) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(array) if not isinstance(array, torch.Tensor) else array)
    return tensor.to(device=device, dtype=torch.float32)


def retrieval_hits(
    queries,
    gallery,
    groups: Sequence[int] | np.ndarray | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    query_chunk: int | None = None,
    gallery_chunk: int | None = None,
    device: str | torch.device | None = None,
) -> dict[str, dict[int, np.ndarray]]:
    """Per-query hit flags at each k: ``{"paired": {k: bool[N]}, "attribute_exact": {k: bool[N]}}``.

    `queries[i]` is paired with `gallery[i]`; `groups[i]` is the group id of row i (both sides); without groups
    only ``paired`` is returned. Embeddings are used as given (normalise them for cosine scores). Chunks default
    to 4,096 x 16,384 scores on the CPU and 16,384 x 65,536 (4 GiB) on a GPU, where fewer, larger blocks keep
    kernel launches and the per-block synchronisation of the group columns from dominating.
    """
    q_all, g_all = _as_tensor(queries, device), _as_tensor(gallery, device)
    on_gpu = q_all.device.type != "cpu"
    query_chunk = query_chunk or (16384 if on_gpu else 4096)
    gallery_chunk = gallery_chunk or (65536 if on_gpu else 16384)
    if q_all.ndim != 2 or g_all.ndim != 2 or q_all.shape != g_all.shape:
        raise ValueError(
            f"queries and gallery must be N x d of the same shape, got {tuple(q_all.shape)} and {tuple(g_all.shape)}"
        )
    n = q_all.shape[0]
    if n == 0:
        raise ValueError("no embeddings to evaluate")
    top = min(max(ks), n)
    group_ids = None if groups is None else torch.as_tensor(np.asarray(groups), device=q_all.device)
    if group_ids is not None and group_ids.shape != (n,):
        raise ValueError(f"groups must have one id per row ({n}), got shape {tuple(group_ids.shape)}")
    kth = {k: torch.empty(n, device=q_all.device) for k in ks}
    paired = torch.empty(n, device=q_all.device)  # taken from the same matmuls as the scores it is ranked among
    best_in_group = torch.full((n,), -torch.inf, device=q_all.device) if group_ids is not None else None
    for q0 in range(0, n, query_chunk):
        q = q_all[q0 : q0 + query_chunk]
        running = RunningTopK(q.shape[0], top, device=q.device)
        best = torch.full((q.shape[0],), -torch.inf, device=q.device)
        for g0 in range(0, n, gallery_chunk):
            scores = q @ g_all[g0 : g0 + gallery_chunk].t()
            lo, hi = max(q0, g0), min(q0 + q.shape[0], g0 + scores.shape[1])
            if lo < hi:
                diagonal = torch.arange(lo, hi, device=q.device)
                paired[lo:hi] = scores[diagonal - q0, diagonal - g0]
            running.update(scores, g0)
            if group_ids is not None:
                query_groups = group_ids[q0 : q0 + query_chunk]
                gallery_groups = group_ids[g0 : g0 + gallery_chunk]
                columns = torch.isin(gallery_groups, query_groups).nonzero().squeeze(1)  # groups are small
                if len(columns):
                    same = query_groups[:, None] == gallery_groups[columns][None, :]
                    in_group = scores[:, columns].masked_fill(~same, -torch.inf)
                    best = torch.maximum(best, in_group.amax(dim=1))
        for k in ks:
            kth[k][q0 : q0 + q.shape[0]] = running.scores[:, min(k, top) - 1]
        if best_in_group is not None:
            best_in_group[q0 : q0 + q.shape[0]] = best
    hits = {"paired": {k: (paired >= kth[k]).cpu().numpy() for k in ks}}
    if best_in_group is not None:
        hits["attribute_exact"] = {k: (best_in_group >= kth[k]).cpu().numpy() for k in ks}
    return hits


def recall_at_k(hits: dict[str, dict[int, np.ndarray]], rows: np.ndarray | None = None) -> dict[str, dict[str, float]]:
    """Percent of queries hit at each k (over `rows` only when given)."""
    return {
        target: {f"top{k}": float(100.0 * (flags if rows is None else flags[rows]).mean()) for k, flags in by_k.items()}
        for target, by_k in hits.items()
    }


def naive_hits(queries, gallery, groups=None, ks: Sequence[int] = DEFAULT_KS) -> dict[str, dict[int, np.ndarray]]:
    """The same metric from the full N x N score matrix (the reference; memory grows with N squared)."""
    scores = _as_tensor(queries) @ _as_tensor(gallery).t()
    paired = scores.diagonal()
    ordered = torch.topk(scores, k=min(max(ks), len(paired)), dim=1).values
    result = {"paired": {k: (paired >= ordered[:, min(k, len(paired)) - 1]).cpu().numpy() for k in ks}}
    if groups is not None:
        g = torch.as_tensor(np.asarray(groups), device=scores.device)
        best = scores.masked_fill(g[:, None] != g[None, :], -torch.inf).amax(dim=1)
        result["attribute_exact"] = {k: (best >= ordered[:, min(k, len(paired)) - 1]).cpu().numpy() for k in ks}
    return result
