"""Building blocks of EarthGPT-X, one small module per file (segment-anything style)."""
