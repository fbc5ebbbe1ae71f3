"""The Comprehensive Variance Index: `compute_cvi` (`cvi_index.py`, numpy only), and beside it the `evaluate`
metric module (`cvi.py`, with its card, Space app and requirements) that imports it relatively, so that the
folder alone is a complete metric: ``evaluate.load("evaluation/cvi")`` or the Hub repo it is uploaded to."""

from .cvi_index import PARTS, CviOptions, compute_cvi, cvi_by_definition

__all__ = ["PARTS", "CviOptions", "compute_cvi", "cvi_by_definition"]
