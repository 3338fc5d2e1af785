"""The `toydd` command's entry point. Loading the command takes about a second (numba, pandas,
pyarrow); a Ctrl-C in that second ends as one later does, "aborted" and exit status 130, not with
a traceback of whichever import it interrupted."""

import sys


def main() -> None:
    try:
        from .cli import main as command
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    command(prog_name="toydd")
