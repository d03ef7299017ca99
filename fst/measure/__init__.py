"""Measurements: the L-BFGS baseline on the pixels (optimize), quality of a trained network
against it (evaluate), and speed (bench)."""
