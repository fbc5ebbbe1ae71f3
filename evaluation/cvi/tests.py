"""Test cases of the CVI metric, in evaluate's convention: inputs and the exact result (worked out by hand)."""

test_cases = [
    {  # two orthogonal pairs: every row of every similarity matrix is (1, 0) or (0, 1), variance 1/4
        "image_embeds": [[1.0, 0.0], [0.0, 1.0]],
        "text_embeds": [[1.0, 0.0], [0.0, 1.0]],
        "result": {"cvi": 0.25, "image_image": 0.25, "text_text": 0.25, "text_image": 0.25},
    },
    {  # identical pairs: every similarity is 1, no variance: the hardest retrieval
        "image_embeds": [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]],
        "text_embeds": [[0.0, 2.0], [0.0, 2.0], [0.0, 2.0]],
        "result": {"cvi": 0.0, "image_image": 0.0, "text_text": 0.0, "text_image": 0.0},
    },
    {  # texts swapped: text-image rows (0, 1) and (1, 0), still variance 1/4; alpha 0 weighs text-text only
        "image_embeds": [[1.0, 0.0], [0.0, 1.0]],
        "text_embeds": [[0.0, 1.0], [1.0, 0.0]],
        "alpha": 0.0,
        "result": {"cvi": 0.25, "image_image": 0.25, "text_text": 0.25, "text_image": 0.25},
    },
]
