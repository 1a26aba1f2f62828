"""API schemas of pushed datasets."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from .common import Page

DatasetName = Annotated[str, StringConstraints(min_length=1, max_length=100,
                                               pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
LabelName = Annotated[str, StringConstraints(min_length=1, max_length=200,
                                             pattern=r"^[^\x00-\x1f\x7f]+$")]


class DatasetOut(BaseModel):
    project: str
    name: str
    sha256: str
    ref: str = Field(description="name@sha256: how the runs that train on it pin it")
    format: str = Field(description="npz or csv, told by the content")
    bytes: int
    rows: int
    features: int
    classes: int | None = Field(description="distinct labels, when they are whole numbers "
                                            "(else the dataset suits regression only)")
    label: str | None = Field(description="a .csv file's label column")
    created_at: datetime
    created_by: str


class DatasetPushed(DatasetOut):
    created: bool = Field(description="false: this content was already there under this name")


class DatasetPage(Page):
    datasets: list[DatasetOut]
