"""Geometry layer: numpy + scipy only (never torch)."""
