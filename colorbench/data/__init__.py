"""Data in: datasets (built-in and registered by plugins) and reading image files safely."""
