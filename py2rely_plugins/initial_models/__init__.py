"""Initial-model strategies: reference, denovo, reconstruct."""
