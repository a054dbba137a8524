"""modelwarden: read, scan, classify and govern AI model releases from their files."""

# The single source of the version (pyproject reads it through hatch): a literal rather than
# importlib.metadata, which costs ~25 ms of start-up for every command.
__version__ = "0.1.0"

__all__ = ["__version__"]
