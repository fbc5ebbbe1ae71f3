"""Collection speed of `nft1000 collect` against loopback servers (`nft1000_testing/local_chain.py`): an
eth-tester chain with N minted tokens and an IPFS-like gateway that answers each request after a fixed latency
(a real gateway's round trip), at several concurrency levels, in the same run.

    python benchmarks/collect_speed.py [--tokens 200] [--latency 0.05] [--concurrency 1 8 32]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import tempfile
import time
from pathlib import Path

import testing_path  # noqa: F401  (nft1000_testing is not installed)
from PIL import Image

from nft1000_dataset.collect.collector import Collector, read_contract
from nft1000_dataset.collect.options import FetchOptions
from nft1000_testing.local_chain import Gateway, LocalChain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the gateway waits per request")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args()
    logging.disable(logging.INFO)
    buffer = io.BytesIO()
    Image.new("RGB", (512, 512), (200, 40, 40)).save(buffer, format="PNG")
    files = {}
    for n in range(args.tokens):
        files[f"/ipfs/QmMeta/{n}.json"] = json.dumps({"name": f"#{n}", "image": f"ipfs://QmImg/{n}.png"}).encode()
        files[f"/ipfs/QmImg/{n}.png"] = buffer.getvalue()
    gateway = Gateway(files, latency=args.latency)
    chain = LocalChain()
    address = chain.deploy("Bench Punks")
    chain.mint(address, {n: f"ipfs://QmMeta/{n}.json" for n in range(args.tokens)})
    start = time.perf_counter()
    tokens = read_contract(chain.url, address)
    read_seconds = time.perf_counter() - start
    print(f"{args.tokens} tokens, gateway latency {args.latency * 1000:.0f} ms a request, 2 requests a token; "
          f"reading the contract (tokenByIndex + tokenURI over JSON-RPC): {read_seconds:.1f} s\n")  # fmt: skip
    print("| concurrency | seconds | tokens/s | vs concurrency 1 |\n| ---: | ---: | ---: | ---: |")
    base = None
    for concurrency in args.concurrency:
        with tempfile.TemporaryDirectory() as tmp:
            options = FetchOptions(concurrency=concurrency, per_host_rate=1000.0)
            collector = Collector(Path(tmp), "Bench Punks", (gateway.url,), options=options)
            start = time.perf_counter()
            report = asyncio.run(collector.run(tokens))
            seconds = time.perf_counter() - start
        assert report["tokens_collected"] == args.tokens, report["failures_by_reason"]
        rate = args.tokens / seconds
        base = base or rate
        print(f"| {concurrency} | {seconds:.1f} | {rate:.1f} | {rate / base:.1f}x |")
    gateway.close()
    chain.close()


if __name__ == "__main__":
    main()
