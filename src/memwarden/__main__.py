"""`python -m memwarden`: the memwarden command, for hosts where the console script is not on
PATH (a venv that is not activated, a wheel installed with --target)."""

from memwarden.cli import main

if __name__ == "__main__":
    main()
