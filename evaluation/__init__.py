"""Evaluation of NFT1000 models: retrieval top-k (whole split and per collection) and, later, CVI."""
