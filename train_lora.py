"""Entry point for ``accelerate launch train_lora.py ...``; the script lives in `nft1000.train_lora`."""

import sys

from nft1000.errors import run_command
from nft1000.train_lora import main

if __name__ == "__main__":
    sys.exit(run_command(lambda: main(sys.argv[1:]), "train_lora.py"))
