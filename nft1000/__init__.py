"""nft1000: the NFT1000 paper (ACM MM 2024) as software. The command line is `nft1000`."""

__version__ = "0.1.0"
