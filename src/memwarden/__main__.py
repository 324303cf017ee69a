"""`python -m memwarden`: the memwarden command."""

from memwarden.cli import main

main()
