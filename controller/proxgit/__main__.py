"""``python -m proxgit``: the same as the ``proxgit`` command."""

from proxgit.cli import main

main()
