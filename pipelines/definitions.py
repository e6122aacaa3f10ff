"""Dagster entry point: `dagster dev -m pipelines.definitions`.

Locations come from CSHEALTH_EXTRACTS_DIR, CSHEALTH_WAREHOUSE (defaults ./data/...),
CSHEALTH_WORK_DB and CSHEALTH_SETTINGS.
"""

from pipelines.jobs import build_definitions

defs = build_definitions()
