"""Exact top-k by inner product in blocks: never the full queries x gallery matrix."""

from __future__ import annotations

import numpy as np
import torch


def top_k(
    queries: np.ndarray, gallery: np.ndarray, k: int, query_block: int = 1024, gallery_block: int = 65536
) -> tuple[np.ndarray, np.ndarray]:
    """The `k` best gallery rows of each query: (scores, indices), each (n_queries, min(k, n_gallery)), best first."""
    q_all = torch.as_tensor(np.ascontiguousarray(queries, dtype=np.float32))
    g_all = torch.as_tensor(np.ascontiguousarray(gallery, dtype=np.float32))
    k = min(k, g_all.shape[0])
    scores_out, indices_out = [], []
    for q0 in range(0, q_all.shape[0], query_block):
        q = q_all[q0 : q0 + query_block]
        best_scores = torch.full((q.shape[0], 0), -torch.inf)
        best_indices = torch.zeros((q.shape[0], 0), dtype=torch.long)
        for g0 in range(0, g_all.shape[0], gallery_block):
            scores = q @ g_all[g0 : g0 + gallery_block].t()
            block_scores, block_indices = torch.topk(scores, k=min(k, scores.shape[1]), dim=1)
            merged_scores = torch.cat([best_scores, block_scores], dim=1)
            merged_indices = torch.cat([best_indices, block_indices + g0], dim=1)
            best_scores, order = torch.topk(merged_scores, k=min(k, merged_scores.shape[1]), dim=1)
            best_indices = torch.gather(merged_indices, 1, order)
        scores_out.append(best_scores.numpy())
        indices_out.append(best_indices.numpy())
    return np.concatenate(scores_out), np.concatenate(indices_out)
