"""A search page for an index, built with Gradio the way Hugging Face Spaces demos are:
``nft1000 search-app INDEX [--dataset D]`` (with the dataset, results show their images). One endpoint,
``/search``; a dataset's text is shown as text (table cells of type ``str``, labels escaped), never as HTML."""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from nft1000_io.optional import import_extra
from nft1000_io.text import markdown_cell

from .engine import NFTSearch

gr = import_extra("gradio", "app", "the search page")

ALL = "(all collections)"
COLUMNS = ["rank", "score", "collection", "token_id", "caption"]


def build_app(searcher: NFTSearch, image_of: Callable[[str, str], Image.Image] | None = None) -> gr.Blocks:
    """The page: a text or image query, a collection filter and k; results as a table (and images)."""

    def run(query: str, image: Image.Image | None, collection: str, k: float, target: str):
        options = {"collection": None if collection == ALL else collection}
        if image is not None:
            hits = searcher.image(image, int(k), **options)
        elif query and query.strip():
            hits = searcher.text(query.strip(), int(k), target=target, **options)
        else:
            raise gr.Error("Type a query or drop an image.")
        rows = [
            [rank, round(hit.score, 4), hit.collection, hit.token_id, hit.caption] for rank, hit in enumerate(hits, 1)
        ]
        gallery = [(image_of(hit.collection, hit.token_id), f"{hit.collection} #{hit.token_id}") for hit in hits]
        return (gallery if image_of else []), rows

    with gr.Blocks(title="NFT1000 search") as app:
        gr.Markdown(
            f"# NFT search\n{len(searcher.index):,} tokens of {len(searcher.index.collections)} collections, "
            f"model {markdown_cell(searcher.index.manifest['model'])}."
        )
        with gr.Row():
            query = gr.Textbox(label="Text query", placeholder="a pixel-art punk with 3D glasses", elem_id="query")
            image = gr.Image(type="pil", label="or an image query", height=160)
        with gr.Row():
            collection = gr.Dropdown([ALL, *searcher.index.collections], value=ALL, label="Collection")
            k = gr.Slider(1, 50, value=10, step=1, label="Results")
            target = gr.Radio(["both", "image", "caption"], value="both", label="Text scored against", elem_id="target")
        button = gr.Button("Search", variant="primary", elem_id="search")
        gallery = gr.Gallery(label="Tokens", columns=5, height="auto", visible=image_of is not None)
        table = gr.Dataframe(headers=COLUMNS, datatype="str", label="Results", elem_id="results", wrap=True)
        gr.on([button.click, query.submit], run, [query, image, collection, k, target], [gallery, table],
              api_name="search")  # fmt: skip
    return app
