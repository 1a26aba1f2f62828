"""Reading Prometheus' text format back, with prometheus_client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) → value, for every sample of an exposition."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict[tuple[str, tuple], float], name: str, **labels: str) -> float:
    """One sample's value; 0 for a labelled sample not there yet (a counter not yet moved)."""
    return found.get((name, tuple(sorted(labels.items()))), 0.0)
