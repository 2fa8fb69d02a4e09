"""colorbench's built-in methods, one module each, installed as ``colorbench_plugins``.

Each module registers its colourizer through the ``register_colorizers`` hook and
is listed under the ``colorbench`` entry-point group in pyproject.toml, exactly as
a third-party plugin package would be.
"""
