"""EarthGPT-X model."""
