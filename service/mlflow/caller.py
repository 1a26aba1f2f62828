"""The caller of the MLflow API and where their MLflow experiments live.

MLflow has no projects, so names resolve in the token's *default project*: the one project the
token is limited to, or otherwise the project named ``default`` (the default of optrack's own
API). Experiment ids are optrack's, except ``"0"``: MLflow's default experiment, here the MLflow
experiment named ``Default`` of the default project, created with the first run logged to it.
Objects named by id (experiments, runs) are found in any project the caller may see, exactly as
over optrack's API."""

from __future__ import annotations

from functools import cached_property

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..auth.principal import Principal
from ..errors import NotFound
from ..experiments.named import find_named, is_logged
from ..models import Experiment, Project
from ..projects import visible_project, writable_project

DEFAULT_PROJECT = "default"
DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
is_mlflow = is_logged  # made for logged runs (over MLflow or the SDK), not submitted


class Caller:
    """A request's principal and session, with its default project and Default experiment
    looked up once."""

    def __init__(self, session: Session, user: Principal):
        self.session, self.user = session, user

    @cached_property
    def project_name(self) -> str:
        limit = self.user.token_projects
        if limit is not None and len(limit) == 1:
            name = self.session.scalar(select(Project.name).where(Project.id.in_(limit)))
            if name is not None:
                return name
        return DEFAULT_PROJECT

    def project_id(self, min_role: str = "viewer") -> str:
        """The default project's id if the caller has ``min_role`` there (a superuser's first
        write creates ``default``); NotFound says which project MLflow calls go to."""
        try:
            if min_role == "member":
                return writable_project(self.session, self.user, self.project_name)
            return visible_project(self.session, self.user, self.project_name, min_role).id
        except NotFound:
            raise NotFound(f"project {self.project_name!r} not found: MLflow calls go to the "
                           f"token's default project, the one project the token is limited "
                           f"to, else {DEFAULT_PROJECT!r}") from None

    def experiment_named(self, name: str, project_id: str | None = None) -> Experiment | None:
        """The live experiment of that name in the default project: a logged one if there
        is one, else the oldest."""
        return find_named(self.session, project_id or self.project_id(), name)

    @cached_property
    def default_experiment_id(self) -> str | None:
        """The optrack id of experiment "0", None while it does not exist (or the caller
        cannot see the default project)."""
        try:
            found = self.experiment_named(DEFAULT_EXPERIMENT_NAME)
        except NotFound:
            return None
        return found.id if found is not None and is_mlflow(found) else None

    def made_default(self, experiment: Experiment) -> None:
        """Experiment "0" was created in this request."""
        self.__dict__["default_experiment_id"] = experiment.id

    def optrack_id(self, mlflow_id: str) -> str | None:
        """The optrack id an MLflow experiment id names (None: "0" before it exists)."""
        return self.default_experiment_id if mlflow_id == DEFAULT_EXPERIMENT_ID else mlflow_id

    def mlflow_id(self, experiment_id: str | None) -> str:
        """The MLflow id of an optrack experiment ("" for a run outside any experiment)."""
        if experiment_id is not None and experiment_id == self.default_experiment_id:
            return DEFAULT_EXPERIMENT_ID
        return experiment_id or ""
