"""Assertions for equivariance and batch consistency, shipped with the library."""
