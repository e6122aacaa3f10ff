"""Dagster assets of the pipeline, one module per layer."""
