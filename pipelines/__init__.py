"""Dagster definitions, resources, settings and the `cshealth` command line."""
