"""Models and data for NFT1000 training, below the scripts, in three rooms by job: component separation
(`separation`), dynamic masking (`masking`, which reads separation's library), and the models with their
training pieces (`models`). Beside them, what separation and masking both use: a byte-bounded cache
(`byte_cache`) and decoded images of dataset rows (`images`).
"""
