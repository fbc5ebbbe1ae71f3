"""Exact top-k by inner product in blocks: never the full queries x gallery matrix. The one implementation
behind retrieval metrics (`evaluation.retrieval`) and search (`nft1000.search.index`)."""

from __future__ import annotations

import numpy as np
import torch


class RunningTopK:
    """The `k` best scores (and gallery indices) of each of `rows` queries over the gallery blocks seen so far."""

    def __init__(self, rows: int, k: int, device: torch.device | str | None = None):
        self.k = k
        self.scores = torch.full((rows, 0), -torch.inf, device=device)
        self.indices = torch.zeros((rows, 0), dtype=torch.long, device=device)

    def update(self, scores: torch.Tensor, offset: int) -> None:
        """Merge one block of scores (rows x block) whose first column is gallery row `offset`."""
        block_scores, block_indices = torch.topk(scores, k=min(self.k, scores.shape[1]), dim=1)  # no block copy
        merged_scores = torch.cat([self.scores, block_scores], dim=1)
        merged_indices = torch.cat([self.indices, block_indices + offset], dim=1)
        self.scores, order = torch.topk(merged_scores, k=min(self.k, merged_scores.shape[1]), dim=1)
        self.indices = torch.gather(merged_indices, 1, order)


def top_k(
    queries: np.ndarray,
    gallery: np.ndarray | tuple[np.ndarray, ...],
    k: int,
    query_block: int = 1024,
    gallery_block: int = 65536,
) -> tuple[np.ndarray, np.ndarray]:
    """The `k` best gallery rows of each query: (scores, indices), each (n_queries, min(k, n_gallery)), best first.
    A tuple of galleries (the same rows embedded several ways) scores each row by the mean of its inner products."""
    q_all = torch.as_tensor(np.ascontiguousarray(queries, dtype=np.float32))
    parts = gallery if isinstance(gallery, tuple) else (gallery,)
    galleries = [torch.as_tensor(np.ascontiguousarray(g, dtype=np.float32)) for g in parts]
    rows = galleries[0].shape[0]
    k = min(k, rows)
    scores_out, indices_out = [], []
    for q0 in range(0, q_all.shape[0], query_block):
        q = q_all[q0 : q0 + query_block]
        best = RunningTopK(q.shape[0], k)
        for g0 in range(0, rows, gallery_block):
            blocks = [q @ g[g0 : g0 + gallery_block].t() for g in galleries]
            best.update(blocks[0] if len(blocks) == 1 else sum(blocks) / len(blocks), g0)
        scores_out.append(best.scores.numpy())
        indices_out.append(best.indices.numpy())
    return np.concatenate(scores_out), np.concatenate(indices_out)
