"""Evaluation of NFT1000 models: embeddings of a split (`embeddings`), exact blockwise top-k (`topk`) and the
retrieval metrics on it (`retrieval`), `RetrievalReport` (`report`: whole split and per collection, scalars,
Markdown, files) under two protocols (unseen collections, held-out tokens: `protocols`), and the Comprehensive
Variance Index (the `cvi` metric folder) with its per-collection report (`cvi_report`)."""
