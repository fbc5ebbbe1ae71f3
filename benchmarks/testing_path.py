"""Imported for its effect: puts the repository root on ``sys.path`` so that a benchmark run as
``python benchmarks/<name>.py`` can import `nft1000_testing` (fixtures that are not installed)."""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
