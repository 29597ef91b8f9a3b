"""copick picks → RELION 5 particles, and refined particles → copick."""
