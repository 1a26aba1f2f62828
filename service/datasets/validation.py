"""Validating the runs of a project that name pushed datasets, from the datasets' stored facts:
the API never opens the file (an API process need not hold it, and validating a grid must not
read 100 MiB per run). Each run's stored config pins its dataset to ``name@sha256`` (and a
.csv file's label column), so a later push or deletion cannot change what a queued run trains
on; workers fetch the file by that sha256."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

import optim_core
from optim_core.training import load_dataset

from ..models import Project, PushedDataset
from .records import facts_of, find, ref_of


class ProjectDatasets:
    """The datasets a project's runs may name: ``load`` is the loader ``training.resolve``
    asks (a pushed file answered by its facts, any other dataset loaded by optim_core), and
    ``pin`` pins an experiment request's reference."""

    def __init__(self, session: Session, project_id: str):
        self.session, self.project_id = session, project_id
        self._found: dict[str, PushedDataset | None] = {}

    def find(self, ref: str) -> PushedDataset | None:
        if ref not in self._found:
            self._found[ref] = find(self.session, self.project_id, ref, lock="share")
        return self._found[ref]

    def load(self, name: str, seed: int = 0, **options: Any):
        """A Dataset, or a pushed file's DatasetShape, for ``training.resolve``."""
        ref = options.get("dataset")
        if name != "file" or not isinstance(ref, str):
            return load_dataset(name, seed, **options)
        record = self.find(ref)
        if record is None:
            project = self.session.get(Project, self.project_id).name
            raise optim_core.ConfigError(
                "dataset.dataset", f"no dataset {ref!r} in project {project!r}; push it with "
                                   f"`optrack datasets push FILE --project {project}`")
        label = options.get("label")
        if label is not None and label != record.label:
            rule = (f"dataset {record.name!r} was pushed with the label column "
                    f"{record.label!r}" if record.label else
                    "an .npz dataset has no label column: its labels are the array 'y'")
            raise optim_core.ConfigError("dataset.label", rule)
        pinned = {"dataset": ref_of(record), **({"label": record.label} if record.label else {})}
        return optim_core.datasets.shape(facts_of(record), seed, **{**options, **pinned})

    def pin(self, request: dict[str, Any]) -> dict[str, Any]:
        """``request`` with its dataset section's pushed reference pinned (an adaptive search
        makes its trials from the stored request later: they train on the content there was
        at submission). An unknown reference is left for validation to report."""
        section = request.get("dataset")
        ref = section.get("dataset") if isinstance(section, dict) else None
        if not isinstance(ref, str) or section.get("name") != "file":
            return request
        record = self.find(ref)
        if record is None:
            return request
        return {**request, "dataset": {**section, "dataset": ref_of(record)}}
