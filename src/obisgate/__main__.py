"""``python -m obisgate``: the command line."""

from obisgate.cli import main

main()
