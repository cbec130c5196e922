"""avalanche-clip: continual learning for CLIP models on Avalanche.

The public API lives in the subpackages (``avalanche_clip.models``, ``.benchmarks``,
``.training``, ``.evaluation``, ``.results``); importing this package builds nothing and imports no
heavy dependency.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
