"""Entry point of this bundled plugin (hook implementations are added as the plugin grows)."""
