"""Example py2rely scheduler plugin: the `shell` executor (see README.md)."""
