"""Search and piracy detection on a real synthetic release with a planted pirate collection: the release is
built with `nft1000 build`, indexed with a CLIP saved by save_pretrained, and searched through the CLI."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from evaluation.topk import top_k
from nft1000.cli import main as cli_main
from nft1000.search.engine import NFTSearch
from nft1000.search.index import NFTIndex
from nft1000.train_clip import main as train_clip
from nft1000_dataset.synth import synthesize
from nft1000_testing.planted import MODIFICATIONS, plant_pirate_collection

PER_MODIFICATION = 8
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> dict:
    """3 synthetic collections, a pirate collection of modified copies of one of them, exported, and a tiny CLIP
    trained on it for a few steps (an untrained one embeds every caption alike)."""
    root = tmp_path_factory.mktemp("search")
    names = synthesize(root / "s", 3, 40, seed=5, num_proc=2)
    protected = names[0]
    truth = plant_pirate_collection(root / "s" / "release", protected, "Pirate Copies", PER_MODIFICATION)
    assert cli_main(["build", "--raw", str(root / "s" / "release"), "--out", str(root / "d"), "--config", "full",
                     "--min-tokens", "10"]) == 0  # fmt: skip
    train_clip([
        "--dataset", str(root / "d"), "--config", "full", "--model", "tiny", "--tiny-image-size", "32",
        "--output-dir", str(root / "clip"), "--mask-prob", "0", "--per-device-train-batch-size", "16",
        "--max-train-steps", "40", "--learning-rate", "1e-3", "--eval-split", "", "--report-to", "none",
    ])  # fmt: skip
    return {"root": root, "protected": protected, "truth": truth, "dataset": root / "d", "model": root / "clip"}


@pytest.fixture(scope="module")
def index_dir(planted) -> Path:
    out = planted["root"] / "index"
    args = ["index", "--model", str(planted["model"]), "--dataset", str(planted["dataset"]), "--config", "full"]
    assert cli_main([*args, "--split", "train", "--out", str(out)]) == 0
    assert cli_main([*args, "--out", str(out), "--ann"]) == 0  # adds the other splits' collections
    return out


@pytest.mark.slow
def test_the_index_adds_collections_incrementally_and_reopens(index_dir, planted):
    index = NFTIndex.open(index_dir)
    data = load_dataset(str(planted["dataset"]), "full")
    assert len(index) == sum(len(split) for split in data.values())
    assert sorted(index.collections) == sorted({c for split in data.values() for c in split["collection"]})
    model, processor = NFTSearch.open(index_dir).model, NFTSearch.open(index_dir).processor
    report = index.add(data["train"], model, processor)
    assert report == {"added": [], "skipped": sorted(set(data["train"]["collection"]))}


@pytest.mark.slow
def test_search_finds_a_token_from_its_caption_and_from_its_image(index_dir, planted):
    searcher = NFTSearch.open(index_dir)
    row = load_dataset(str(planted["dataset"]), "full", split="test")[3]
    by_caption = searcher.text(row["caption"], k=5, target="caption")
    assert (by_caption[0].collection, by_caption[0].caption) == (row["collection"], row["caption"])
    by_image = searcher.image(row["image"], k=5)
    assert (by_image[0].collection, by_image[0].token_id) == (row["collection"], row["token_id"])
    within = searcher.text(row["caption"], k=50, collection=row["collection"])
    assert {hit.collection for hit in within} == {row["collection"]}


@pytest.mark.slow
def test_search_cli_prints_json_hits(index_dir, planted, capsys):
    assert cli_main(["search", str(index_dir), "a pixel-art punk with 3D glasses", "-k", "3", "--json"]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [hit["rank"] for hit in hits] == [1, 2, 3]
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]


@pytest.mark.slow
def test_approximate_search_agrees_with_exact_search(index_dir):
    index = NFTIndex.open(index_dir)
    recalls = []
    for row in range(0, len(index), 7):
        query = index.image_embeds[row]
        exact = {hit.row for hit in index.search_vector(query, 10)}
        approximate = {hit.row for hit in index.search_vector(query, 10, approximate=True)}
        recalls.append(len(exact & approximate) / 10)
    assert np.mean(recalls) >= 0.95


@pytest.mark.slow
def test_piracy_detection_finds_the_planted_copies_and_little_else(index_dir, planted, tmp_path):
    out = tmp_path / "piracy"
    args = ["piracy", str(index_dir), "--collection", planted["protected"], "--out", str(out)]
    assert cli_main([*args, "--dataset", str(planted["dataset"]), "--config", "full"]) == 0
    report = json.loads((out / "piracy.json").read_text())
    flagged = {(p["suspect"]["collection"], p["suspect"]["token_id"]): p for p in report["suspects"]}
    planted_copies = {("Pirate Copies", token) for token in planted["truth"]}
    assert len(planted_copies) == PER_MODIFICATION * len(MODIFICATIONS)
    found = planted_copies & set(flagged)
    precision, recall = len(found) / max(1, len(flagged)), len(found) / len(planted_copies)
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)
    right = [flagged[key]["original"]["token_id"] == planted["truth"][key[1]]["source_token_id"] for key in found]
    assert np.mean(right) >= 0.9  # the closest original is the one copied (siblings may differ only in colour)
    with Image.open(out / "pairs.png") as sheet:
        assert sheet.height > 0
    assert "Pirate Copies" in (out / "piracy.md").read_text()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(index_dir: Path, dataset: Path) -> Iterator[str]:
    """`nft1000 search-app` serving the index on a free local port, in its own process; yields its URL."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    args = ["search-app", str(index_dir), "--dataset", str(dataset), "--config", "full", "--port", str(port)]
    process = subprocess.Popen([sys.executable, "-m", "nft1000.cli", *args], env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the search page did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def search_page(index_dir, planted):
    with serving(index_dir, planted["dataset"]) as url:
        yield url


@contextmanager
def browser_at(url: str):
    """Headless Chromium at `url`, and a function that waits for a CSS selector's element."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"):  # fmt: skip
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        browser.get(url)
        wait = WebDriverWait(browser, 60)

        def element(selector: str):  # the page renders in parts: wait for each element it needs
            return wait.until(lambda b: b.find_element(By.CSS_SELECTOR, selector))

        yield browser, element
    finally:
        browser.quit()


def search_in_page(browser, element, query: str, expect: str) -> list[str]:
    """Type `query` (scored against captions), search until `expect` shows in the results; the table's text, cell
    by cell."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    box = element("#query textarea, #query input")
    radio = element("#target input[value='caption']")
    WebDriverWait(browser, 60).until(lambda b: radio.is_selected() or radio.click())  # again until the page took it
    box.send_keys(query)
    WebDriverWait(browser, 60).until(lambda b: box.get_attribute("value") == query)
    button = element("button#search")

    def answered(b) -> bool:
        if expect in b.find_element(By.ID, "results").text:
            return True
        button.click()  # (again, if the page was not listening yet)
        return False

    WebDriverWait(browser, 60, poll_frequency=3).until(answered)
    return browser.find_element(By.ID, "results").text.splitlines()


NEEDS_CHROMIUM = pytest.mark.skipif(
    not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()), reason="no chromium"
)


@pytest.mark.slow
@NEEDS_CHROMIUM
def test_the_search_page_answers_a_text_query_in_a_real_browser(search_page, planted):
    row = load_dataset(str(planted["dataset"]), "full", split="test")[3]
    with browser_at(search_page) as (browser, element):
        cells = search_in_page(browser, element, row["caption"], row["caption"][:40])
    first = cells[cells.index("caption") + 1 :][:5]  # the first result
    assert first[0] == "1" and first[2:4] == [row["collection"], row["token_id"]]


HOSTILE_NAME = "<img src=x onerror=window.__pwned=1> [home](javascript:window.__pwned=2) Cats"
HOSTILE_VALUES = {"Eyes": "<script>window.__pwned=3</script>", "Hat": "[click](javascript:window.__pwned=4)"}


@pytest.fixture(scope="module")
def hostile_page(tmp_path_factory, clip_folder):
    """A collection whose name and trait values are HTML and Markdown, built, indexed and served."""
    root = tmp_path_factory.mktemp("hostile-page")
    name = synthesize(root / "s", 1, 12, seed=3)[0]
    folder = root / "s" / "release" / HOSTILE_NAME
    (root / "s" / "release" / name).rename(folder)
    for path in (folder / "metadata").glob("*.json"):
        meta = json.loads(path.read_text())
        meta["attributes"] += [{"trait_type": k, "value": v} for k, v in HOSTILE_VALUES.items()]
        path.write_text(json.dumps(meta))
    assert cli_main(["build", "--raw", str(root / "s" / "release"), "--out", str(root / "d"), "--config", "full",
                     "--min-tokens", "5", "--split-ratios", "1", "0", "0"]) == 0  # fmt: skip
    args = ["index", "--model", str(clip_folder), "--dataset", str(root / "d"), "--config", "full"]
    assert cli_main([*args, "--out", str(root / "index")]) == 0
    with serving(root / "index", root / "d") as url:
        yield url


@pytest.mark.slow
@NEEDS_CHROMIUM
def test_the_search_page_shows_html_and_markdown_from_the_data_as_text_and_runs_none(hostile_page):
    from selenium.webdriver.common.by import By

    with browser_at(hostile_page) as (browser, element):
        cells = search_in_page(browser, element, "a token with blue eyes", HOSTILE_NAME)
        time.sleep(1)  # any image that failed to load has run its onerror by now
        assert browser.execute_script("return window.__pwned") is None
        table = browser.find_element(By.ID, "results")
        assert not table.find_elements(By.CSS_SELECTOR, "img[src='x'], script, a[href^='javascript']")
    assert HOSTILE_NAME in cells
    assert any(all(f"{k}: {v}" in cell for k, v in HOSTILE_VALUES.items()) for cell in cells)


def test_an_index_folder_without_a_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nft1000 index"):
        NFTIndex.open(tmp_path)


@settings(deadline=None, max_examples=40)
@given(
    arrays(np.float32, st.tuples(st.integers(1, 9), st.just(4)), elements=st.floats(-1, 1, width=32)),
    arrays(np.float32, st.tuples(st.integers(1, 40), st.just(8)), elements=st.floats(-1, 1, width=32)),
    st.integers(1, 12),
    st.booleans(),
)
def test_blocked_top_k_equals_the_full_matrix(queries, pair, k, both):
    """One gallery, or two embeddings of it (search's target "both": each row scored by the mean of its image and
    caption similarity), blockwise."""
    image, text = pair[:, :4], pair[:, 4:]
    scores, indices = top_k(queries, (image, text) if both else image, k, query_block=4, gallery_block=7)
    full = (queries @ image.T + queries @ text.T) / 2 if both else queries @ image.T
    np.testing.assert_allclose(scores, -np.sort(-full, axis=1)[:, : min(k, len(pair))], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.take_along_axis(full, indices, axis=1), scores, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_an_index_built_from_relative_paths_works_from_any_folder(planted, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(planted["root"])
    args = ["index", "--model", "clip", "--dataset", "d", "--config", "full"]
    assert cli_main([*args, "--out", str(tmp_path / "idx")]) == 0
    manifest = json.loads((tmp_path / "idx" / "index.json").read_text())
    assert (manifest["model"], manifest["dataset"], manifest["config"]) == (
        str(planted["model"].resolve()),
        str(planted["dataset"].resolve()),
        "full",
    )
    monkeypatch.chdir(tmp_path)  # another folder
    assert cli_main(["search", "idx", "a pixel-art punk", "-k", "2", "--json"]) == 0
    assert cli_main(["piracy", "idx", "--collection", planted["protected"], "--out", "piracy"]) == 0
    assert (tmp_path / "piracy" / "pairs.png").is_file()  # the images came from the dataset the index records
    moved = tmp_path / "moved-clip"
    shutil.copytree(planted["model"], moved)
    (tmp_path / "idx" / "index.json").write_text(json.dumps({**manifest, "model": str(tmp_path / "gone")}))
    capsys.readouterr()
    assert cli_main(["search", "idx", "a pixel-art punk"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "pass --model" in err and "--model tiny" not in err, err
    assert cli_main(["search", "idx", "a pixel-art punk", "-k", "2", "--model", str(moved)]) == 0
