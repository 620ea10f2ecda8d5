"""The installed version, read once from the package metadata (nothing imports the package root)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("adain-nst")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
