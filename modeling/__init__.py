"""Models and data for NFT1000 training, below the scripts.

Dynamic masking (paper, section 5): component separation (`separation`, with `peeling`, `refine`, `grid`,
`tolerance`, `pixels`; the paper's literal recipe beside it), run over a dataset (`components_job`) into a
component library (`library`, `component`), the masker (`masking`) and the CLIP data collator (`collator`,
`byte_cache`, `images`), with sheets to look at (`preview`). Models built from configs or loaded
(`clip_models`, `diffusion_models`, `tokenizer`), the contrastive loss (`contrastive`), CLIP and LoRA training
pieces (`clip_training`, `lora_training`, `checkpoints`), and how p varies over a run (`masking_policy`).
"""
