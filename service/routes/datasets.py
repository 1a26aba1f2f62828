"""/api/v1/datasets: files pushed to the server once (a raw ``.npz`` or ``.csv`` body) and
named by the runs of their project; listing, metadata, the file itself, deletion."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from ..datasets import records
from ..deps import CurrentUser, ReadSession, SettingsDep, WriteSession, scope
from ..errors import InvalidInput
from ..models import PushedDataset
from ..projects import project_names
from ..schemas.common import ProjectName
from ..schemas.datasets import DatasetName, DatasetOut, DatasetPage, DatasetPushed, LabelName

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"], dependencies=[scope()])
FILE_BODY = {"requestBody": {"required": True, "content": {"application/octet-stream": {
    "schema": {"type": "string", "format": "binary"}}}}}
FILE_RESPONSE = {200: {"content": {"application/octet-stream": {}},
                       "description": "the file as it was pushed"}}


def dataset_view(record: PushedDataset, project: str) -> DatasetOut:
    return DatasetOut(project=project, name=record.name, sha256=record.sha256,
                      ref=records.ref_of(record), format=record.format, bytes=record.bytes,
                      rows=record.rows, features=record.features, classes=record.classes,
                      label=record.label, created_at=record.created_at,
                      created_by=record.created_by)


@router.post("", status_code=201, response_model=DatasetPushed, openapi_extra=FILE_BODY,
             responses={200: {"model": DatasetPushed, "description": "pushed before"}})
async def push_dataset(request: Request, response: Response, user: CurrentUser,
                       project: ProjectName = Query(), name: DatasetName = Query(),
                       label: LabelName | None = Query(None, description="a .csv file's "
                                                                         "label column "
                                                                         "(default: the "
                                                                         "last)")
                       ) -> DatasetPushed:
    """Push a dataset file, the raw body (at most ``OPTRACK_MAX_DATASET_BYTES``, 413 beyond):
    an ``.npz`` with arrays ``x`` and ``y`` (read without pickle) or a ``.csv`` with a header
    and a label column; 422 names what is wrong with it. 201 when new; 200 for content already
    there under this name; 409 when the name holds other content (names never change their
    content) or the content has another name. Needs the member role."""
    if request.headers.get("content-type", "").startswith("multipart/"):
        raise InvalidInput.field("content-type", "send the file itself as the body "
                                                 "(application/octet-stream), not a form")
    settings = request.app.state.settings
    data = await request.body()  # the body limit of this route is the dataset limit

    def store() -> DatasetPushed:  # in the thread pool: it reads the file and fsyncs
        with request.app.state.writer() as session:
            record, created = records.push(session, user, project, name, label, data,
                                           settings.max_dataset_bytes, settings.data_dir)
            session.commit()
        return DatasetPushed(**dataset_view(record, project).model_dump(), created=created)

    pushed = await run_in_threadpool(store)
    response.status_code = 201 if pushed.created else 200
    return pushed


@router.get("", response_model=DatasetPage)
def list_datasets(session: ReadSession, settings: SettingsDep, user: CurrentUser,
                  project: ProjectName | None = Query(None),
                  limit: int = Query(100, ge=1),
                  page_token: str | None = Query(None, max_length=4000)) -> DatasetPage:
    """The datasets of the projects you can see (or of ``project``), by name."""
    if limit > settings.max_page_size:
        raise InvalidInput.field("limit", f"must be <= {settings.max_page_size}")
    rows, token = records.listing(session, user, project, limit, page_token)
    names = project_names(session, {r.project_id for r in rows})
    return DatasetPage(datasets=[dataset_view(r, names[r.project_id]) for r in rows],
                       next_page_token=token)


@router.get("/{project}/{ref}", response_model=DatasetOut)
def get_dataset(project: str, ref: str, session: ReadSession, user: CurrentUser) -> DatasetOut:
    """A dataset by name, sha256 or name@sha256."""
    return dataset_view(records.get(session, user, project, ref), project)


@router.get("/{project}/{ref}/content", response_class=Response, responses=FILE_RESPONSE)
def get_dataset_content(project: str, ref: str, request: Request, user: CurrentUser,
                        settings: SettingsDep) -> Response:
    """The file, as it was pushed."""
    with request.app.state.reader() as session:  # closed before the file is streamed
        record = records.get(session, user, project, ref)
        path = records.blob(record, settings.data_dir)
    return FileResponse(path, media_type="application/octet-stream",
                        headers={"x-optrack-sha256": record.sha256})


@router.delete("/{project}/{ref}", status_code=204, dependencies=[scope("admin")])
def delete_dataset(project: str, ref: str, session: WriteSession, user: CurrentUser,
                   settings: SettingsDep) -> None:
    """Delete a dataset (project admins); 409 while a queued or running run trains on it.
    Finished runs keep its sha256 in their configs."""
    unused = records.delete(session, user, project, ref)
    session.commit()
    records.remove_blobs(settings.data_dir, unused)
