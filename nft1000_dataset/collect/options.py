"""How `nft1000 collect` fetches: its defaults, written once, readable without the ``collect`` extra (the command
line shows them in ``--help`` on a core install)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FetchOptions:
    concurrency: int = 16
    timeout: float = 30.0  # seconds for a whole request
    retries: int = 3  # extra tries of one URL on timeouts, dropped connections, 429 and 5xx
    backoff: float = 0.5  # seconds before the first retry, doubled each time, with jitter (half to all of it)
    max_retry_after: float = 120.0  # longest Retry-After (429, 503) honoured; longer is a failure
    per_host_rate: float = 20.0  # requests per second to one host
    max_bytes: int = 64 * 2**20
    allow_private_hosts: bool = False  # let URLs from contracts and metadata reach loopback and private addresses
