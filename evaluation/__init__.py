"""Evaluation of NFT1000 models: retrieval top-k (whole split and per collection) under two protocols (unseen
collections, held-out tokens: `protocols`), the Comprehensive Variance Index (the `cvi` metric folder) and their
reports."""
