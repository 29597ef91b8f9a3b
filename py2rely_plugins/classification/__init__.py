"""Auto-Class3D and its class selectors."""
