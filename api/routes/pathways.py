"""/pathways: the published library (each version, its fields and its diagram), validate, publish.

A definition is posted as its YAML text. Published versions never change: the same text again
is a no-op (200), different text under a published version is refused with the fix.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from sqlmodel import Session, col, select

from api.deps import Publisher, Reader, ServiceDep, SessionDep
from pathways.diagram import mermaid
from pathways.limits import MAX_DOCUMENT_BYTES
from pathways.model import MISSING, Field
from pathways.problems import Problem
from pathways.service.commands import PublishDefinition
from pathways.store.checking import checked
from pathways.store.definitions import DefinitionRejected, compiled, published_text
from pathways.store.enrollments import NotFound
from pathways.store.tables import PathwayDefinition

router = APIRouter(prefix="/pathways", tags=["pathways"])

POSTED = "posted.yaml"  # the file name problems of a posted text carry
MAX_BYTES = MAX_DOCUMENT_BYTES  # the largest shipped definition is ~9 kB
YAML_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The definition's YAML text (a pathway version or a calendar), UTF-8.",
        "content": {
            media_type: {"schema": {"type": "string"}}
            for media_type in ("application/yaml", "text/plain")
        },
    }
}


async def _yaml_text(request: Request) -> str:
    too_big = HTTPException(
        413, f"the definition is over {MAX_BYTES // 1000} kB: split it into sub-pathways (call:)"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES:
        raise too_big  # refused before the body is read into memory
    raw = bytearray()
    async for chunk in request.stream():
        raw.extend(chunk)
        if len(raw) > MAX_BYTES:
            raise too_big
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError as error:
        raise HTTPException(
            422, f"the body is not UTF-8 (byte {error.start}): save the YAML file as UTF-8"
        ) from error
    if not text.strip():
        raise HTTPException(422, "the body is empty: send the definition's YAML text")
    return text


YamlText = Annotated[str, Depends(_yaml_text)]


class PathwaySummary(BaseModel):
    """A published pathway: its latest version, and every version published."""

    pathway: str
    version: int
    title: str
    modality: str
    versions: list[int]


class FieldPublic(BaseModel):
    """A parameter or patient attribute: its type, default (required: none) and allowed values."""

    type: str
    default: Any
    required: bool
    minimum: float | None
    maximum: float | None
    enum: list[str]
    unit: str
    description: str


class PathwayDetail(BaseModel):
    """One pathway version: what it asks for at enrolment, its roles and when it was published."""

    pathway: str
    version: int
    versions: list[int]
    title: str
    modality: str
    description: str
    parameters: dict[str, FieldPublic]
    patient: dict[str, FieldPublic]
    roles: list[str]
    content_hash: str
    published_at: datetime


class ProblemPublic(BaseModel):
    """One thing wrong with a posted definition: where it is, what, and how to fix it."""

    line: int
    column: int
    where: str
    message: str
    hint: str


class Validation(BaseModel):
    """Whether a definition would be published as it stands, and every problem found."""

    valid: bool
    problems: list[ProblemPublic]


class DefinitionPublished(BaseModel):
    """The stored definition: a pathway version or a calendar, with its content hash."""

    kind: str
    pathway: str
    version: int
    content_hash: str
    published_at: datetime


@router.get("")
def list_pathways(who: Reader, db: SessionDep) -> list[PathwaySummary]:
    """The latest version of each published pathway, by pathway id, with all its versions."""
    rows = db.exec(
        select(
            PathwayDefinition.pathway,
            PathwayDefinition.version,
            PathwayDefinition.title,
            PathwayDefinition.modality,
        )
        .where(PathwayDefinition.kind == "pathway")
        .order_by(col(PathwayDefinition.pathway), col(PathwayDefinition.version))
    )
    latest: dict[str, PathwaySummary] = {}
    for pathway, version, title, modality in rows:
        versions = [*latest[pathway].versions, version] if pathway in latest else [version]
        latest[pathway] = PathwaySummary(
            pathway=pathway, version=version, title=title, modality=modality, versions=versions
        )
    return list(latest.values())


@router.get("/{pathway}")
def read_pathway(pathway: str, who: Reader, db: SessionDep) -> PathwayDetail:
    """The latest version of a pathway: its parameters, patient attributes and roles."""
    return _detail(db, *_published(db, pathway, None))


@router.get("/{pathway}/versions/{version}")
def read_pathway_version(pathway: str, version: int, who: Reader, db: SessionDep) -> PathwayDetail:
    """One version of a pathway: its parameters, patient attributes and roles."""
    return _detail(db, *_published(db, pathway, version))


@router.get("/{pathway}/diagram", response_class=PlainTextResponse)
def read_diagram(pathway: str, who: Reader, db: SessionDep) -> str:
    """The latest version as a Mermaid flowchart (text/plain)."""
    return mermaid(compiled(db, _published(db, pathway, None)[0]).machine)


@router.get("/{pathway}/versions/{version}/diagram", response_class=PlainTextResponse)
def read_version_diagram(pathway: str, version: int, who: Reader, db: SessionDep) -> str:
    """One version as a Mermaid flowchart (text/plain)."""
    return mermaid(compiled(db, _published(db, pathway, version)[0]).machine)


@router.post("/validate", openapi_extra=YAML_BODY)
def validate_definition(who: Publisher, text: YamlText, db: SessionDep) -> Validation:
    """Check a definition as publishing would, storing nothing (authoring roles only).

    A definition over a limit of the language (size, nesting, aliases, tags, text lengths,
    steps) is refused with 422 and its problems; any other problem gives `valid: false`.
    """
    found = [] if published_text(db, text) else _problems(db, text)
    refused = [problem for problem in found if problem.over_limit]
    if refused:
        raise DefinitionRejected(
            f"the definition is over a limit of the pathway language: {refused[0].message}",
            found,
        )
    return Validation(
        valid=not found,
        problems=[
            ProblemPublic(
                line=p.line, column=p.column, where=p.where, message=p.message, hint=p.hint
            )
            for p in found
        ],
    )


@router.post("", status_code=201, openapi_extra=YAML_BODY)
def publish_definition(
    who: Publisher, text: YamlText, service: ServiceDep, db: SessionDep, response: Response
) -> DefinitionPublished:
    """Publish a pathway version or a calendar (201); the same text again gives it back (200)."""
    try:
        published = service.handle(PublishDefinition(text=text, source=POSTED, actor=who.actor))
    except DefinitionRejected as rejected:
        if rejected.problems:
            raise
        # A text that is no definition at all is refused without its problems: find them.
        raise DefinitionRejected(rejected.message, _problems(db, text)) from None
    if not published.created:
        response.status_code = 200
    return _summary(published.definition)


def _summary(row: PathwayDefinition) -> DefinitionPublished:
    return DefinitionPublished.model_validate(row, from_attributes=True)


def _problems(session: Session, text: str) -> list[Problem]:
    """What publishing the text would report, read against what it refers to."""
    return checked(session, text, POSTED).report()


def _published(
    session: Session, pathway: str, version: int | None
) -> tuple[PathwayDefinition, list[int]]:
    """The version asked for (None: the latest), and every version of the pathway."""
    rows = list(
        session.exec(
            select(PathwayDefinition)
            .where(PathwayDefinition.kind == "pathway", PathwayDefinition.pathway == pathway)
            .order_by(col(PathwayDefinition.version))
        )
    )
    versions = [row.version for row in rows]
    if not rows:
        raise NotFound(f"no published pathway '{pathway}'")
    if version is None:
        return rows[-1], versions
    for row in rows:
        if row.version == version:
            return row, versions
    listed = ", ".join(map(str, versions))
    raise NotFound(f"pathway '{pathway}' has no version {version} (versions: {listed})")


def _detail(session: Session, row: PathwayDefinition, versions: list[int]) -> PathwayDetail:
    model = compiled(session, row).pathway
    return PathwayDetail(
        pathway=row.pathway,
        version=row.version,
        versions=versions,
        title=row.title,
        modality=row.modality,
        description=model.description,
        parameters={name: _field(field) for name, field in model.parameters.items()},
        patient={name: _field(field) for name, field in model.patient.items()},
        roles=list(model.roles),
        content_hash=row.content_hash,
        published_at=row.published_at,
    )


def _field(field: Field) -> FieldPublic:
    return FieldPublic(
        type=field.type,
        default=None if field.default is MISSING else field.default,
        required=field.default is MISSING,  # enrolment must then give a value
        minimum=field.minimum,
        maximum=field.maximum,
        enum=list(field.enum),
        unit=field.unit,
        description=field.description,
    )
