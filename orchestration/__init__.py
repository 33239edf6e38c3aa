"""The winback Dagster code location: `orchestration.definitions` builds the one Definitions."""
