"""modelwarden: read, scan, classify and govern AI model releases from their files."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("modelwarden")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
