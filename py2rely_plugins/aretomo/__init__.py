"""AreTomo alignments → RELION 5 tilt series."""
