"""`python -m toydd`: the `toydd` command."""

from ._launch import main

if __name__ == "__main__":  # not on import (tools that import every module)
    main()
