"""colorbench: comparable numbers for automatic image colourization.

The core owns the evaluation contract (Lab conversion, datasets, metrics, result
files); every method, the built-in ones included, is a plugin registered through
the hooks in `colorbench.hookspecs`.
"""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("colorbench")
"""Marks a plugin's hook implementations: ``@colorbench.hookimpl``."""
