"""`python -m monitor` runs the command line."""

from monitor.cli import main

# Guarded: the parse pool's forkserver imports the main module of the parent.
if __name__ == "__main__":
    raise SystemExit(main())
