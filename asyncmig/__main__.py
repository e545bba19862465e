"""``python -m asyncmig``."""

from .entry import main

main()
