"""The command line. `main` is the `monitor` entry point."""

from monitor.cli.main import main

__all__ = ["main"]
