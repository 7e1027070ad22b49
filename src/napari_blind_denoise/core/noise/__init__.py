"""Noise: reading a learned noise model, its calibration, residual statistics and synthetic
noise for evaluation."""
