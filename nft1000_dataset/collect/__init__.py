"""`nft1000 collect`: a collection read from its ERC-721 contract into the release layout (paper, 4.2).

Modules: `uris` (ipfs://, ar://, data: and HTTP URIs to gateway requests), `options` (how fetching goes, its
defaults), `fetch` (HTTP with retries, rate limits and size caps; needs the ``collect`` extra), `collector`
(contract -> tokenURI -> metadata -> media, resumable). Nothing is imported here: `nft1000 --help` reads
`options` alone, so a core install (no aiohttp, no web3) builds the parser.
"""
