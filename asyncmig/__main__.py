"""``python -m asyncmig``."""

from .cli import main

main()
