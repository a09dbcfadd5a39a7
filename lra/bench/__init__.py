"""Efficiency measurements: timing and peak memory of attentions, ours and peer packages, side by side."""
