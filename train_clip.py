"""Entry point for ``accelerate launch train_clip.py ...``; the script lives in `nft1000.train_clip`."""

import sys

from nft1000.errors import run_command
from nft1000.train_clip import main

if __name__ == "__main__":
    sys.exit(run_command(lambda: main(sys.argv[1:]), "train_clip.py"))
