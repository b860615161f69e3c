"""Allow ``python -m metpost``."""

from metpost.cli import main

if __name__ == "__main__":
    main()
