"""Token and media URIs as real collections write them, turned into what can be fetched.

``ipfs://CID/path`` and ``ipfs://ipfs/CID/path`` (and http links to any IPFS gateway) become one URL per
configured gateway, tried in order; ``ar://TX`` goes to the Arweave gateway; ``data:`` URIs (on-chain metadata
such as Loot's, and SVG images) are decoded in place; ``{id}`` is replaced as ERC-1155 asks (64 hex digits).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

DEFAULT_IPFS_GATEWAYS = ("https://ipfs.io", "https://cloudflare-ipfs.com", "https://gateway.pinata.cloud")
DEFAULT_ARWEAVE_GATEWAY = "https://arweave.net"
GATEWAY_PATH = re.compile(r"^https?://[^/]+/ipfs/(?P<rest>.+)$")


class UriError(ValueError):
    """A URI that names nothing fetchable; ``reason`` is the short label counted in reports."""

    def __init__(self, reason: str, uri: str):
        super().__init__(f"{reason}: {uri[:200]}")
        self.reason = reason


@dataclass(frozen=True)
class InlineData:
    """The content of a ``data:`` URI."""

    content: bytes
    media_type: str


def substitute_id(uri: str, token_id: int) -> str:
    """ERC-1155's ``{id}``: the id as 64 lowercase hex digits."""
    return uri.replace("{id}", f"{token_id:064x}")


def parse_data_uri(uri: str) -> InlineData:
    """``data:[<media type>][;param]*[;base64],<data>`` (RFC 2397); the common ``;utf8`` form is accepted."""
    header, sep, payload = uri[len("data:") :].partition(",")
    if not sep:
        raise UriError("malformed data uri", uri)
    params = [p.strip() for p in header.split(";")]
    media_type = params[0].lower() or "text/plain"
    if "base64" in (p.lower() for p in params[1:]):
        try:
            content = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=False)
        except ValueError as err:
            raise UriError("bad base64 in data uri", uri) from err
    else:
        content = unquote_to_bytes(payload)
    return InlineData(content, media_type)


def resolve(
    uri: str,
    token_id: int | None = None,
    ipfs_gateways: tuple[str, ...] = DEFAULT_IPFS_GATEWAYS,
    arweave_gateway: str = DEFAULT_ARWEAVE_GATEWAY,
) -> list[str] | InlineData:
    """The URLs to try for `uri`, in order, or its inline content."""
    uri = uri.strip()
    if token_id is not None and "{id}" in uri:
        uri = substitute_id(uri, token_id)
    lowered = uri.lower()
    if lowered.startswith("data:"):
        return parse_data_uri(uri)
    if lowered.startswith("ipfs://"):
        rest = uri[len("ipfs://") :]
        rest = rest[len("ipfs/") :] if rest.lower().startswith("ipfs/") else rest
        if not rest.strip("/"):
            raise UriError("empty ipfs uri", uri)
        return [f"{gateway.rstrip('/')}/ipfs/{rest}" for gateway in ipfs_gateways]
    if lowered.startswith("ar://"):
        return [f"{arweave_gateway.rstrip('/')}/{uri[len('ar://') :]}"]
    if lowered.startswith(("http://", "https://")):
        match = GATEWAY_PATH.match(uri)
        if match:  # pinned on some gateway: try the configured ones first, the original last
            return [f"{g.rstrip('/')}/ipfs/{match['rest']}" for g in ipfs_gateways if not uri.startswith(g)] + [uri]
        return [uri]
    if not uri:
        raise UriError("empty uri", uri)
    raise UriError("unsupported uri scheme", uri)
