"""RELION 5: job builders, the embedded runtime and the STA workflow."""
