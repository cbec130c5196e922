"""``python -m avalanche_clip``: the ``avalanche-clip`` command."""

from .cli import main

if __name__ == "__main__":
    main()

__all__ = ["main"]
