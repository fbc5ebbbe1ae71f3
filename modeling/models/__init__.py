"""Models and their training pieces: CLIP (`clip`: from a config, ``tiny``, or a checkpoint) and Stable Diffusion
pipelines (`diffusion`), the tokenizer trained on captions (`tokenizer`), CLIP fine-tuning pieces and the
contrastive loss over the global batch (`clip_training`), LoRA adapters, loss, save and load (`lora_training`) and
the LoRA batches (`lora_collator`)."""
