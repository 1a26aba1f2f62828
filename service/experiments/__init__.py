"""Experiments: submission and expansion of requests into runs, listing, the summary table,
export, and the life after creation (soft delete, restore, purge)."""
