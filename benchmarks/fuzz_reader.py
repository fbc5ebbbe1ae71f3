"""The fuzzer over the reader at a longer budget than CI's: hypothesis mutations of real token files (PNG, JPEG,
GIF, WebP, SVG, metadata JSON, captions; in folders and zip members) through the scan, the rows and the media
decoder (`nft1000_testing.fuzz`). Prints what the mutated tokens came to, the slowest token and the largest rise
of peak memory over one token; a broken promise ends the run with hypothesis's shrunk example.

    python benchmarks/fuzz_reader.py [--examples 3000] [--seed 0]
"""

from __future__ import annotations

import argparse
import logging
import time

import testing_path  # noqa: F401  (nft1000_testing)

from nft1000_testing.fuzz import run_fuzz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # every skipped token logs a line
    start = time.monotonic()
    summary = run_fuzz(args.examples, args.seed)
    print(f"{summary['examples']} mutated tokens in {time.monotonic() - start:.0f} s; slowest token "
          f"{summary['seconds']:.2f} s (three tokens scanned and built); largest peak-memory rise over one token "
          f"{summary['megabytes']:.1f} MB\n")  # fmt: skip
    print("| seed file | outcome | tokens |\n| --- | --- | ---: |")
    for outcome, count in summary["outcomes"].items():
        seed, label = outcome.split(": ", 1)
        print(f"| {seed} | {label} | {count} |")


if __name__ == "__main__":
    main()
