"""The CVI metric's Space: embeddings in, the index and its three parts out.

Written with `gradio.Blocks`: evaluate's `launch_gradio_widget` builds its page from `gr.inputs`, which gradio 4
removed. `build_demo` makes the page without starting a server (tests use it); ``python app.py`` serves it.
"""

import json

import evaluate
import gradio as gr
import numpy as np

INTRODUCTION = (
    "# CVI\nThe Comprehensive Variance Index (NFT1000, ACM MM 2024): paste N x d image and text embeddings (JSON "
    "arrays, row i of both a pair). Low CVI: the pairs look alike to the model, and retrieval among them is hard."
)
EXAMPLE = {"image_embeds": [[1.0, 0.0], [0.0, 1.0]], "text_embeds": [[1.0, 0.0], [0.0, 1.0]]}


def compute(
    metric,
    image_embeds: str,
    text_embeds: str,
    alpha: float,
    include_diagonal: bool,
    similarity: str,
    temperature: float,
) -> dict:
    """The metric on two JSON arrays of embeddings (N x d each, row i of both a pair)."""
    images, texts = np.asarray(json.loads(image_embeds), dtype=float), np.asarray(json.loads(text_embeds), dtype=float)
    if images.ndim != 2 or images.shape != texts.shape:
        raise gr.Error(f"need two N x d arrays of the same shape, got {images.shape} and {texts.shape}")
    return metric.compute(
        image_embeds=images.tolist(),
        text_embeds=texts.tolist(),
        alpha=alpha,
        include_diagonal=include_diagonal,
        similarity=similarity,
        temperature=temperature,
    )


def build_demo(metric) -> gr.Blocks:
    with gr.Blocks(title="CVI: Comprehensive Variance Index") as demo:
        gr.Markdown(INTRODUCTION)
        with gr.Row():
            image_embeds = gr.Textbox(json.dumps(EXAMPLE["image_embeds"]), lines=6, label="image_embeds (JSON)")
            text_embeds = gr.Textbox(json.dumps(EXAMPLE["text_embeds"]), lines=6, label="text_embeds (JSON)")
        with gr.Row():
            alpha = gr.Slider(0.0, 1.0, value=0.7, step=0.05, label="alpha")
            include_diagonal = gr.Checkbox(value=True, label="include_diagonal")
            similarity = gr.Radio(["cosine", "softmax"], value="cosine", label="similarity")
            temperature = gr.Number(100.0, label="temperature (softmax)")
        button = gr.Button("Compute", variant="primary")
        result = gr.JSON(label="result")
        inputs = [image_embeds, text_embeds, alpha, include_diagonal, similarity, temperature]
        button.click(lambda *values: compute(metric, *values), inputs=inputs, outputs=result)
    return demo


if __name__ == "__main__":
    build_demo(evaluate.load("cvi.py")).launch()
