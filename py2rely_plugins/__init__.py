"""Bundled plugins. Each is registered through an entry point in group ``py2rely`` (see
pyproject.toml), exactly like a third-party plugin; the core never imports them by name."""
