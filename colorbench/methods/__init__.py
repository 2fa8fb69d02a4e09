"""What a method is and the parts methods share: the Colorizer interface, settings, networks, losses."""
