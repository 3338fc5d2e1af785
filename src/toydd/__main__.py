"""`python -m toydd`: the `toydd` command."""

from .cli import main

main()
