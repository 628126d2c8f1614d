"""Compute side: engines turn encoded texts into attention tensors. They never print."""
