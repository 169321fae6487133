"""Neural layers (PyTorch): the only package that imports torch."""
