"""Pandera (polars) models of the input extracts."""
