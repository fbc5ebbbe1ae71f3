"""Search over a trained model's embeddings (text and image queries) and near-duplicate (piracy) detection."""
