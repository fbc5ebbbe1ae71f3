"""`nft1000 collect` against real components on loopback: an eth-tester chain with an ERC-721 compiled by vyper,
behind JSON-RPC, and HTTP servers playing IPFS gateways (good, slow, HTML error pages, dropped connections)."""

import asyncio
import base64
import io
import json
from pathlib import Path
from urllib.parse import quote

import pytest
from datasets import load_dataset
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from nft1000.cli import main as cli_main
from nft1000_dataset.collect.fetch import Fetcher, FetchError
from nft1000_dataset.collect.options import FetchOptions
from nft1000_dataset.collect.uris import InlineData, UriError, parse_data_uri, resolve
from nft1000_dataset.release import normalize_name
from nft1000_io.text import needs_cleaning
from nft1000_testing.local_chain import Gateway, LocalChain

pytestmark = pytest.mark.slow
LOOPBACK = ("127.0.0.1",)  # the host of the test gateways, trusted as a user's own gateway would be
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24"><rect width="24" height="24" fill="red"/></svg>'


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 24), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def metadata(number: int, image: str) -> dict:
    return {
        "name": f"Test Punk #{number}",
        "image": image,
        "attributes": [{"trait_type": "Hat", "value": f"H{number}"}],
    }


@pytest.fixture(scope="module")
def world():
    files, arweave_files, tokens = {}, {}, {}
    good = Gateway(files)
    for n in (1, 2, 8):
        files[f"/ipfs/QmMeta/{n}.json"] = json.dumps(metadata(n, f"ipfs://QmImg/{n}.png")).encode()
        files[f"/ipfs/QmImg/{n}.png"] = png((20 * n, 0, 0))
    del files["/ipfs/QmImg/8.png"]  # token 8's image is nowhere: a counted failure
    tokens[1], tokens[2], tokens[8] = "ipfs://QmMeta/1.json", "ipfs://ipfs/QmMeta/2.json", "ipfs://QmMeta/8.json"
    arweave = Gateway(arweave_files)
    arweave_files["/TxMeta3"] = json.dumps(metadata(3, "ar://TxImg3")).encode()
    arweave_files["/TxImg3"] = png((0, 60, 0))
    tokens[3] = "ar://TxMeta3"
    files["/meta/4.json"] = json.dumps(metadata(4, f"{good.url}/img/4.png")).encode()
    files["/img/4.png"] = png((0, 0, 80))
    tokens[4] = f"{good.url}/meta/4.json"
    svg64 = "data:image/svg+xml;base64," + base64.b64encode(SVG.encode()).decode()
    tokens[5] = "data:application/json;base64," + base64.b64encode(json.dumps(metadata(5, svg64)).encode()).decode()
    tokens[6] = "data:application/json;utf8," + quote(json.dumps(metadata(6, "data:image/svg+xml;utf8," + SVG)))
    files[f"/erc1155/{7:064x}.json"] = json.dumps(metadata(7, "ipfs://QmImg/7.png")).encode()
    files["/ipfs/QmImg/7.png"] = png((0, 90, 90))
    tokens[7] = f"{good.url}/erc1155/{{id}}.json"
    bad = [Gateway(files, mode) for mode in ("html", "drop", "slow")]
    chain = LocalChain()
    address = chain.deploy("Test Punks", enumerable=True)
    chain.mint(address, tokens)
    yield {"chain": chain, "address": address, "good": good, "bad": bad, "arweave": arweave, "tokens": tokens}
    for server in (good, arweave, *bad):
        server.close()
    chain.close()


def collect_args(world, out: Path, gateways: list[str]) -> list[str]:
    args = ["collect", "--contract", world["address"], "--rpc", world["chain"].url, "--out", str(out)]
    args += ["--arweave-gateway", world["arweave"].url, "--timeout", "1", "--retries", "1", "--concurrency", "8"]
    return args + [flag for url in gateways for flag in ("--ipfs-gateway", url)]


def test_every_uri_form_is_collected_through_failing_gateways_and_the_folder_builds(world, tmp_path):
    gateways = [server.url for server in world["bad"]] + [world["good"].url]  # html, drop, slow, then good
    assert cli_main(collect_args(world, tmp_path / "release", gateways)) == 0
    folder = tmp_path / "release" / "Test Punks"
    report = json.loads((folder / "collect_report.json").read_text())
    assert report["total_supply"] == len(world["tokens"]) == report["tokens_listed"]
    assert report["tokens_collected"] == len(world["tokens"]) - 1
    assert report["failed_tokens"] == [{"token_id": "8", "reason": "http 404"}]
    assert sorted(p.name for p in (folder / "images").iterdir()) == sorted(
        [f"Test Punks_{n}.png" for n in (1, 2, 3, 4, 7)] + [f"Test Punks_{n}.svg" for n in (5, 6)]
    )
    dashboard = json.loads((folder / "metadata_dashboard.json").read_text())
    assert (dashboard["tokens_collected"], dashboard["total_supply"]) == (7, 8)
    manifest = [json.loads(line) for line in (folder / "collect_manifest.jsonl").read_text().splitlines()]
    assert all(entry["token_uri"] for entry in manifest) and len(manifest) == 8

    out = tmp_path / "built"
    assert cli_main(["build", "--raw", str(tmp_path / "release"), "--out", str(out), "--config", "full",
                     "--min-tokens", "1", "--split-ratios", "100", "0", "0"]) == 0  # fmt: skip
    rows = load_dataset(str(out), "full", split="train")
    assert sorted(rows["token_id"], key=int) == ["1", "2", "3", "4", "5", "6", "7"]
    assert rows[0]["image"].width == 512  # standardised by the build, SVGs rasterised


def test_a_rerun_after_an_interruption_fetches_only_what_is_missing(world, tmp_path):
    good = world["good"]
    assert cli_main(collect_args(world, tmp_path, [good.url])) == 0
    folder = tmp_path / "Test Punks"
    (folder / "images" / "Test Punks_1.png").unlink()  # as if killed before this token finished
    before = good.requests.copy()
    assert cli_main(collect_args(world, tmp_path, [good.url])) == 0
    fetched = good.requests - before
    assert set(fetched) == {"/ipfs/QmMeta/1.json", "/ipfs/QmImg/1.png", "/ipfs/QmMeta/8.json", "/ipfs/QmImg/8.png"}
    report = json.loads((folder / "collect_report.json").read_text())
    assert (report["skipped_complete"], report["fetched_now"], report["tokens_collected"]) == (6, 2, 7)


def test_a_contract_without_enumerable_needs_an_id_range(world, tmp_path):
    from nft1000_dataset.collect.collector import read_contract

    chain = world["chain"]
    address = chain.deploy("Plain Punks", enumerable=False)
    chain.mint(address, {10: world["tokens"][5], 11: world["tokens"][6]})
    with pytest.raises(ValueError, match="--token-ids"):
        read_contract(chain.url, address)
    tokens = read_contract(chain.url, address, range(10, 13))
    assert sorted(tokens.uris) == [10, 11] and list(tokens.errors) == [12]  # 12 was never minted: listed, not lost


def test_html_error_pages_and_oversized_files_are_rejected_with_their_reason(world):
    async def fetch(urls, kind, options):
        async with Fetcher(options, LOOPBACK) as fetcher:
            return await fetcher.get(urls, kind)

    html = world["bad"][0].url
    with pytest.raises(FetchError, match="html instead of json"):
        asyncio.run(fetch([f"{html}/ipfs/QmMeta/1.json"], "json", FetchOptions(retries=0)))
    with pytest.raises(FetchError, match="html instead of media"):
        asyncio.run(fetch([f"{html}/ipfs/QmImg/1.png"], "media", FetchOptions(retries=0)))
    with pytest.raises(FetchError, match="too large"):
        asyncio.run(fetch([f"{world['good'].url}/ipfs/QmImg/1.png"], "media", FetchOptions(max_bytes=10)))


@given(st.binary(max_size=300), st.sampled_from(["application/json", "image/svg+xml", "text/plain"]))
def test_data_uris_decode_to_what_was_encoded(content, media_type):
    encoded = f"data:{media_type};base64," + base64.b64encode(content).decode()
    assert parse_data_uri(encoded) == InlineData(content, media_type)
    percent = f"data:{media_type};utf8," + quote(content)
    assert parse_data_uri(percent) == InlineData(content, media_type)


@given(st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=40), st.integers(0, 2**64))
def test_ipfs_forms_resolve_to_every_gateway_in_order(path, token_id):
    gateways = ("http://a", "http://b/")
    expected = [f"http://a/ipfs/Qm/{path}", f"http://b/ipfs/Qm/{path}"]
    assert resolve(f"ipfs://Qm/{path}", token_id, gateways) == expected
    assert resolve(f"ipfs://ipfs/Qm/{path}", token_id, gateways) == expected
    assert resolve(f"https://some.gateway/ipfs/Qm/{path}", token_id, gateways)[:2] == expected
    assert resolve("x/{id}.json".join(["http://h/", ""]), token_id) == [f"http://h/x/{token_id:064x}.json"]


def test_unsupported_uris_are_an_error_with_a_reason():
    with pytest.raises(UriError) as error:
        resolve("ftp://example.org/1.json")
    assert error.value.reason == "unsupported uri scheme"


def test_retry_after_is_honoured_and_backoff_has_jitter():
    import time

    files = {"/x.json": b'{"name": "x"}'}
    busy, down, rude = (
        Gateway(files, "busy", retry_after="1"),
        Gateway(files, "down", retry_after=""),
        Gateway(files, "busy", retry_after="600"),
    )

    async def run():
        async with Fetcher(FetchOptions(retries=1, backoff=0.01), LOOPBACK) as fetcher:
            start = time.monotonic()
            await fetcher.get([busy.url + "/x.json"], "json")
            waited, waits = time.monotonic() - start, list(fetcher.waits)
        async with Fetcher(FetchOptions(retries=4, backoff=0.02), LOOPBACK) as fetcher:
            with pytest.raises(FetchError, match="http 5xx"):
                await fetcher.get([down.url + "/x.json"], "json")
            backoff = list(fetcher.waits)
        async with Fetcher(FetchOptions(retries=3, max_retry_after=5), LOOPBACK) as fetcher:
            start = time.monotonic()
            with pytest.raises(FetchError, match="too long"):
                await fetcher.get([rude.url + "/x.json"], "json")
            refused = time.monotonic() - start
        return waited, waits, backoff, refused

    try:
        waited, waits, backoff, refused = asyncio.run(run())
    finally:
        for server in (busy, down, rude):
            server.close()
    assert waits == [1.0] and waited >= 1.0 and busy.requests["/x.json"] == 2  # the server's 1 s, then served
    assert len(backoff) == 4 and down.requests["/x.json"] == 5
    for n, wait in enumerate(backoff):  # doubling, each drawn in [half, all] of its step
        assert 0.5 * 0.02 * 2**n <= wait <= 0.02 * 2**n
    assert len({round(w / (0.02 * 2**n), 6) for n, w in enumerate(backoff)}) > 1  # jittered, not a fixed schedule
    assert refused < 5  # a Retry-After beyond max_retry_after fails at once instead of hanging


@given(seconds=st.integers(0, 10**6), offset=st.integers(-3600, 10**6))
def test_retry_after_parses_seconds_and_http_dates(seconds, offset):
    from email.utils import formatdate

    from nft1000_dataset.collect.fetch import retry_after_seconds

    assert retry_after_seconds(str(seconds)) == seconds
    now = 1_700_000_000.0
    assert retry_after_seconds(formatdate(now + offset, usegmt=True), now=now) == max(0.0, float(offset))
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_collect_refuses_a_foreign_collection_folder_unless_overwrite(world, tmp_path):
    folder = tmp_path / "Test Punks"
    folder.mkdir()
    (folder / "notes.txt").write_text("not ours")
    assert cli_main(collect_args(world, tmp_path, [world["good"].url])) != 0
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    assert cli_main([*collect_args(world, tmp_path, [world["good"].url]), "--overwrite"]) == 0
    assert (folder / "collect_report.json").is_file()


def test_a_hostile_contract_reaches_no_private_address_and_writes_only_under_out(world, tmp_path):
    good = world["good"]
    port = good.url.rsplit(":", 1)[1]
    served = f"{good.url}/meta/4.json"  # a real token's metadata, on the gateway's own loopback server
    good.redirects["/redirect/1.json"] = f"http://localhost:{port}/meta/4.json"
    good.files["/ipfs/QmHostile/int.json"] = b'{"image": "x", "level": ' + b"9" * 5000 + b"}"
    good.files["/ipfs/QmHostile/deep.json"] = b"[" * 100_000 + b"]" * 100_000
    tokens = {
        1: f"http://localhost:{port}/meta/4.json",  # a name for loopback, not the gateway's host
        2: f"http://127.0.0.2:{port}/meta/4.json",  # a loopback address written in the URL
        3: f"{good.url}/redirect/1.json",  # the trusted gateway redirecting to a private name
        4: "ipfs://QmHostile/int.json",  # gateways return what the pinned file holds
        5: "ipfs://QmHostile/deep.json",
        6: "data:application/json;utf8," + quote(json.dumps({"image": {"uri": "ipfs://QmImg/1.png"}})),
        7: "file:///etc/passwd",
        8: "ipfs://QmMeta/1.json",
        9: served,
    }
    chain = world["chain"]
    address = chain.deploy("../../Escaped \u202egnp.exe/..", enumerable=True)
    chain.mint(address, tokens)
    args = ["collect", "--contract", address, "--rpc", chain.url, "--out", str(tmp_path / "out"),
            "--ipfs-gateway", good.url, "--timeout", "2", "--retries", "0"]  # fmt: skip
    before = good.requests.copy()
    assert cli_main(args) == 0
    [folder] = (tmp_path / "out").iterdir()  # one folder, inside --out
    assert folder.name == "Escaped gnp.exe"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    report = json.loads((folder / "collect_report.json").read_text())
    reasons = {int(e["token_id"]): e["reason"] for e in report["failed_tokens"]}
    assert reasons == {1: "private address", 2: "private address", 3: "private address", 4: "invalid json",
                       5: "invalid json", 6: "image is not a uri", 7: "unsupported uri scheme"}  # fmt: skip
    assert report["tokens_collected"] == 2
    assert (good.requests - before)["/meta/4.json"] == 1  # only token 9, through the gateway's own host

    allowed = tmp_path / "allowed"
    assert cli_main([*args[:6], str(allowed), *args[7:], "--allow-private-hosts"]) == 0
    report = json.loads((allowed / folder.name / "collect_report.json").read_text())
    failed = {int(e["token_id"]): e["reason"] for e in report["failed_tokens"]}
    assert set(failed) == {2, 4, 5, 6, 7} and failed[2] == "connection error"  # nothing listens on 127.0.0.2


@given(st.text(max_size=60))
def test_any_contract_name_is_one_folder_name(name):
    from nft1000_dataset.collect.collector import collection_folder_name

    folder = collection_folder_name(name, "0xabc")
    assert folder and "/" not in folder and "\\" not in folder and not folder.startswith(".")
    assert folder == "0xabc" or Path("/out", folder).parent == Path("/out")
    assert all(ord(c) >= 32 for c in folder)
    assert not needs_cleaning(folder) and normalize_name(folder) == folder  # what the build would name it


def test_a_contract_name_with_terminal_escapes_becomes_the_name_the_build_gives_it():
    from nft1000_dataset.collect.collector import collection_folder_name

    spelled = "\u202eEvil\x1b]0;pwned\x07 Apes\u2066"
    assert collection_folder_name(spelled, "0xabc") == normalize_name(spelled) == "Evil ]0;pwned Apes"
