"""py2rely core: plugin manager, CLI, parameter file, STAR tables and the RELION project model."""

from importlib import metadata

try:
    __version__ = metadata.version("py2rely")
except metadata.PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"
