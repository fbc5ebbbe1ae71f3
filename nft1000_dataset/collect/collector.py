"""A collection read from its ERC-721 contract into the release layout (paper, 4.2): contract -> tokenURI ->
metadata -> media, as the NFT1000 authors built the dataset.

    OUT/<Name>/metadata/<Name>_<id>.json      the metadata as served (raw bytes)
    OUT/<Name>/images/<Name>_<id>.<ext>       the media in their original format (`nft1000 build` standardises)
    OUT/<Name>/metadata_dashboard.json        what was collected against totalSupply
    OUT/<Name>/collect_manifest.jsonl         per token: every URI, status, reason, checksums
    OUT/<Name>/collect_report.json            counts of failures by reason

A rerun skips every token whose files are complete and match their checksums, and fetches the rest.

What a contract and its metadata return is untrusted: the contract's name becomes one safe folder name
(`collection_folder_name`), URLs may reach only public addresses besides the gateways (`fetch`), inline
``data:`` content is bounded like a download, and no token's failure, whatever it is, stops the run: each is a
failed entry with its reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from tqdm.auto import tqdm

from nft1000_io.atomic import atomic_write_bytes, atomic_write_text
from nft1000_io.optional import import_extra

from ..media import media_extension
from ..release import normalize_name
from .fetch import Fetcher, FetchError, parse_json
from .options import FetchOptions
from .uris import DEFAULT_ARWEAVE_GATEWAY, DEFAULT_IPFS_GATEWAYS, InlineData, UriError, resolve

logger = logging.getLogger(__name__)
ERC165_ENUMERABLE = "0x780e9d63"
MAX_ENUMERATED_TOKENS = 1_000_000  # a totalSupply above this is not enumerated (give --token-ids)
MAX_FOLDER_NAME_CHARS = 120
_UNSAFE_NAME_CHARS = re.compile(r"[/\\:*?\"<>|\x00-\x1f\x7f]+")
COLLECTED_FILES = ("collect_report.json", "metadata_dashboard.json", "metadata", "images")  # an earlier collect
ERC721_ABI = [
    {"name": "name", "type": "function", "stateMutability": "view", "inputs": [],
     "outputs": [{"name": "", "type": "string"}]},
    {"name": "totalSupply", "type": "function", "stateMutability": "view", "inputs": [],
     "outputs": [{"name": "", "type": "uint256"}]},
    {"name": "tokenByIndex", "type": "function", "stateMutability": "view",
     "inputs": [{"name": "index", "type": "uint256"}], "outputs": [{"name": "", "type": "uint256"}]},
    {"name": "tokenURI", "type": "function", "stateMutability": "view",
     "inputs": [{"name": "tokenId", "type": "uint256"}], "outputs": [{"name": "", "type": "string"}]},
    {"name": "supportsInterface", "type": "function", "stateMutability": "view",
     "inputs": [{"name": "interfaceId", "type": "bytes4"}], "outputs": [{"name": "", "type": "bool"}]},
]  # fmt: skip


@dataclass
class ContractTokens:
    """What the contract says: its name, totalSupply (None if it has none) and each token's URI or error."""

    address: str
    name: str
    total_supply: int | None
    enumerable: bool
    uris: dict[int, str] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    index_errors: dict[int, str] = field(default_factory=dict)  # tokenByIndex(i) that reverted: no id known


def collection_folder_name(name: str, fallback: str) -> str:
    """`name` (the contract's name() or the user's --name) as one folder name: path separators, characters that
    file systems refuse and control runs become spaces, invisible formatting (bidi overrides) and leading dots go
    (`release.normalize_name`, as the build names collections), at most 120 characters; `fallback` if nothing is
    left."""
    cleaned = normalize_name(_UNSAFE_NAME_CHARS.sub(" ", name))  # the build's own rule, then the file system's
    cleaned = normalize_name(cleaned.lstrip(". ")[:MAX_FOLDER_NAME_CHARS]).rstrip(". ")
    return cleaned or fallback


def read_contract(rpc_url: str, address: str, token_ids: Iterable[int] | None = None) -> ContractTokens:
    """Read name, totalSupply, the token ids (ERC-721 Enumerable when the contract has it, else `token_ids`)
    and every tokenURI through a JSON-RPC endpoint."""
    Web3 = import_extra("web3", "collect", "nft1000 collect").Web3

    w3 = Web3(Web3.HTTPProvider(rpc_url))
    contract = w3.eth.contract(address=Web3.to_checksum_address(address), abi=ERC721_ABI)
    calls = contract.functions

    def optional(call, default=None):
        try:
            return call.call()
        except Exception:  # a function the contract lacks reverts or returns nothing: not an error here
            return default

    name = optional(calls.name(), "") or address
    total = optional(calls.totalSupply())
    enumerable = bool(optional(calls.supportsInterface(bytes.fromhex(ERC165_ENUMERABLE[2:])), False))
    tokens = ContractTokens(address, name, total, enumerable)
    if enumerable and total is not None and 0 <= total <= MAX_ENUMERATED_TOKENS and token_ids is None:
        ids = []
        for index in range(total):
            try:
                ids.append(calls.tokenByIndex(index).call())
            except Exception as err:  # a contract that reverts here lists fewer tokens; counted, not fatal
                tokens.index_errors[index] = f"tokenByIndex failed: {type(err).__name__}"
    elif token_ids is not None:
        ids = list(token_ids)
    else:
        why = "not ERC-721 Enumerable" if not enumerable else f"totalSupply {total} is not enumerable here"
        raise ValueError(f"{address}: {why}; give the token ids (--token-ids START END)")
    for token_id in tqdm(ids, desc="tokenURI", unit="token", disable=None):
        try:
            tokens.uris[token_id] = calls.tokenURI(token_id).call()
        except Exception as err:  # a burnt or never-minted id reverts
            tokens.errors[token_id] = f"tokenURI failed: {type(err).__name__}"
    return tokens


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@dataclass
class Collector:
    """Fetches the metadata and media of `tokens` into ``out/<name>`` (`name` made one safe folder name); see the
    module docstring."""

    out: Path
    name: str
    ipfs_gateways: tuple[str, ...] = DEFAULT_IPFS_GATEWAYS
    arweave_gateway: str = DEFAULT_ARWEAVE_GATEWAY
    options: FetchOptions = field(default_factory=FetchOptions)

    def __post_init__(self) -> None:
        self.name = collection_folder_name(self.name, "collection")

    @property
    def folder(self) -> Path:
        return self.out / self.name

    @property
    def gateway_hosts(self) -> tuple[str, ...]:
        """The hosts of the gateways the user gave: trusted even on private addresses."""
        return tuple(urlsplit(g).hostname or "" for g in (*self.ipfs_gateways, self.arweave_gateway))

    def _resolve(self, uri: str, token_id: int) -> list[str] | InlineData:
        found = resolve(uri, token_id, self.ipfs_gateways, self.arweave_gateway)
        if isinstance(found, InlineData) and len(found.content) > self.options.max_bytes:
            raise FetchError("too large", "inline data")
        return found

    def complete(self) -> dict[int, dict]:
        """Manifest entries of tokens collected before whose files are still there and match."""
        path = self.folder / "collect_manifest.jsonl"
        done = {}
        if not path.is_file():
            return done
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if entry["status"] != "ok":
                continue
            files = [self.folder / entry["metadata_file"], self.folder / entry["image_file"]]
            digests = [entry["metadata_sha256"], entry["image_sha256"]]
            if all(f.is_file() and _sha256(f.read_bytes()) == d for f, d in zip(files, digests, strict=True)):
                done[int(entry["token_id"])] = entry
        return done

    async def _token(self, fetcher: Fetcher, token_id: int, uri: str) -> dict:
        """The manifest entry of one token; no failure of it, whatever it is, escapes."""
        try:
            return await self._fetch_token(fetcher, token_id, uri)
        except Exception as err:
            logger.warning("token %s: %s", token_id, err, exc_info=True)
            return {"token_id": str(token_id), "token_uri": str(uri)[:2000], "status": "failed",
                    "reason": f"unexpected error ({type(err).__name__})"}  # fmt: skip

    async def _fetch_token(self, fetcher: Fetcher, token_id: int, uri: str) -> dict:
        entry = {"token_id": str(token_id), "token_uri": uri[:2000], "status": "failed"}
        stem = f"{self.name}_{token_id}"
        try:
            found = self._resolve(uri, token_id)
            if isinstance(found, InlineData):
                content, entry["metadata_url"] = found.content, "inline"
                metadata = parse_json(content)
            else:
                entry["metadata_url"], content = await fetcher.get(found, "json")
                metadata = parse_json(content)
            image_uri = metadata.get("image") or metadata.get("image_url") or metadata.get("image_data")
            if not image_uri:
                raise FetchError("no image in metadata")
            if not isinstance(image_uri, str):
                raise FetchError("image is not a uri", type(image_uri).__name__)
            if isinstance(image_uri, str) and image_uri.lstrip().startswith("<svg"):  # raw SVG in image_data
                image_uri = "data:image/svg+xml;utf8," + image_uri
            entry["image_uri"] = str(image_uri)[:2000]
            media = self._resolve(str(image_uri), token_id)
            if isinstance(media, InlineData):
                image, entry["image_url"] = media.content, "inline"
            else:
                entry["image_url"], image = await fetcher.get(media, "media")
            extension = media_extension(image)
            if extension is None:
                raise FetchError("unknown media type")
        except (FetchError, UriError) as err:
            entry["reason"] = err.reason
            return entry
        metadata_file, image_file = f"metadata/{stem}.json", f"images/{stem}.{extension}"
        atomic_write_bytes(self.folder / metadata_file, content)
        atomic_write_bytes(self.folder / image_file, image)
        entry.update(
            status="ok",
            metadata_file=metadata_file,
            image_file=image_file,
            metadata_sha256=_sha256(content),
            image_sha256=_sha256(image),
        )
        return entry

    async def run(self, tokens: ContractTokens) -> dict:
        """Collect every token not complete yet; write the manifest, dashboard and report; return the report."""
        done = self.complete()
        todo = {i: uri for i, uri in tokens.uris.items() if i not in done}
        entries = dict(done)
        for token_id, error in tokens.errors.items():
            entries[token_id] = {"token_id": str(token_id), "status": "failed", "reason": error}
        manifest = self.folder / "collect_manifest.jsonl"
        self.folder.mkdir(parents=True, exist_ok=True)
        progress = tqdm(
            total=len(tokens.uris), initial=len(tokens.uris) - len(todo), desc=self.name, unit="token", disable=None
        )
        async with Fetcher(self.options, self.gateway_hosts) as fetcher:
            with manifest.open("a", encoding="utf-8") as journal:  # each finished token survives a crash
                for future in asyncio.as_completed([self._token(fetcher, i, uri) for i, uri in todo.items()]):
                    entry = await future
                    entries[int(entry["token_id"])] = entry
                    journal.write(json.dumps(entry) + "\n")
                    journal.flush()
                    progress.update(1)
                    progress.set_postfix(failed=sum(e["status"] != "ok" for e in entries.values()))
            requests = fetcher.requests
        progress.close()
        ordered = [entries[i] for i in sorted(entries)]
        atomic_write_text(manifest, "".join(json.dumps(e) + "\n" for e in ordered))
        failures = Counter(e["reason"] for e in ordered if e["status"] != "ok")
        collected = sum(e["status"] == "ok" for e in ordered)
        dashboard = {
            "name": self.name,
            "contract": tokens.address,
            "contract_name": tokens.name,
            "total_supply": tokens.total_supply,
            "enumerable": tokens.enumerable,
            "tokens_listed": len(tokens.uris) + len(tokens.errors),
            "indices_failed": len(tokens.index_errors),
            "tokens_collected": collected,
            "tokens_failed": len(ordered) - collected,
        }
        atomic_write_text(self.folder / "metadata_dashboard.json", json.dumps(dashboard, indent=2))
        report = {
            **dashboard,
            "skipped_complete": len(done),
            "fetched_now": len(todo),
            "http_requests": requests,
            "failures_by_reason": dict(failures.most_common()),
            "failed_tokens": [
                {"token_id": e["token_id"], "reason": e["reason"]} for e in ordered if e["status"] != "ok"
            ],
        }
        atomic_write_text(self.folder / "collect_report.json", json.dumps(report, indent=2))
        return report


def collect_summary(report: dict) -> str:
    """One line of a collect report: tokens collected, already complete, requests, failures by reason."""
    return (
        f"{report['tokens_collected']} of {report['tokens_listed']} tokens collected "
        f"(totalSupply {report['total_supply']}), {report['skipped_complete']} already complete, "
        f"{report['http_requests']} HTTP requests; failures: {report['failures_by_reason'] or 'none'}"
    )
