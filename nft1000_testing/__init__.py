"""Test and benchmark fixtures, not installed with the package (the wheel leaves this folder out).

`local_chain` (a local ERC-721 chain and IPFS/HTTP gateways for `nft1000 collect`, with `contracts/`),
`planted` (a pirated copy of a collection, for near-duplicate detection), `component_eval` (token IoU of found
components against the synthetic ground truth), `sd15` (Stable Diffusion 1.5-sized parts from configs). The
tests import them with the repository root on the path (pytest's ``pythonpath``); the benchmarks add it.
"""
