"""``study.json``: what a study holds, checked whenever a study is opened.

A study folder holds ``study.json``, its images under ``images/ID.png`` (opaque
ids: nothing in a name tells real from fake, or which method made it) and, once
served, the votes in ``votes.sqlite``. Nothing a request names is ever used as a
path: an image id is looked up in this manifest, and its file is the one the
manifest's id makes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from colorbench.errors import UserError
from colorbench.study.protocol import Protocol

FORMAT = "colorbench-study"
FORMAT_VERSION = 1
MANIFEST = "study.json"
IMAGES = "images"
VOTES = "votes.sqlite"
ID_PATTERN = r"^[0-9a-f]{20}$"
METHOD_PATTERN = r"^[a-z][a-z0-9_]*$"  # as colorbench names methods: nothing a page could run
_ID = re.compile(ID_PATTERN)

ImageId = Annotated[str, Field(pattern=ID_PATTERN)]
MethodName = Annotated[str, Field(pattern=METHOD_PATTERN, max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class ProtocolModel(_Strict):
    model_config = ConfigDict(strict=True, extra="allow")  # the reference, question and rule travel with it
    presentation: Literal["sequential", "side_by_side"]
    display_ms: Annotated[int, Field(ge=50, le=60_000)]
    gap_ms: Annotated[int, Field(ge=0, le=60_000)]
    practice: Annotated[int, Field(ge=0, le=1000)]
    trials: Annotated[int, Field(ge=1, le=10_000)]
    vigilance: Annotated[int, Field(ge=0, le=1000)]
    max_vigilance_misses: Annotated[int, Field(ge=0)]

    def protocol(self) -> Protocol:
        return Protocol(**{k: getattr(self, k) for k in Protocol.__dataclass_fields__})


class Method(_Strict):
    model_config = ConfigDict(strict=True, extra="allow")  # where its images came from
    name: MethodName


class Photo(_Strict):
    id: ImageId  # the photo's own opaque id (votes name it)
    source: str  # its ground truth's relative path, or its dataset id: for the analysis, never the page
    real: ImageId
    fakes: dict[MethodName, ImageId]
    vigilance: ImageId


def _distinct_ids(photos: list[Photo]) -> list[Photo]:
    ids = [i for p in photos for i in (p.id, p.real, p.vigilance, *p.fakes.values())]
    if len(set(ids)) != len(ids):
        raise ValueError("an image id appears twice")
    return photos


class Manifest(_Strict):
    model_config = ConfigDict(strict=True, extra="allow")
    format: Literal[FORMAT]
    format_version: Literal[FORMAT_VERSION]
    title: Annotated[str, Field(max_length=200)]
    seed: Annotated[int, Field(ge=0, lt=2**32)]
    protocol: ProtocolModel
    source: dict[str, Any]
    methods: Annotated[list[Method], Field(min_length=1)]
    photos: Annotated[list[Photo], Field(min_length=1), AfterValidator(_distinct_ids)]

    @model_validator(mode="after")
    def _every_photo_has_every_method(self) -> Manifest:
        names = [m.name for m in self.methods]
        if len(set(names)) != len(names):
            raise ValueError("a method is listed twice")
        for photo in self.photos:
            if sorted(photo.fakes) != sorted(names):
                raise ValueError(f"photo {photo.id} has fakes of {sorted(photo.fakes)}, not of the methods {sorted(names)}")
        if self.protocol.protocol().photos_per_participant() > len(self.photos):
            raise ValueError("the protocol shows more photos to a participant than the study has")
        return self


class Study:
    """An opened study folder: its manifest, and where its images and votes are."""

    def __init__(self, root: Path, manifest: Manifest):
        self.root, self.manifest = Path(root), manifest
        self.protocol = manifest.protocol.protocol()
        self.methods = [m.name for m in manifest.methods]
        self.photos = {p.id: p for p in manifest.photos}
        self.image_ids = {i for p in manifest.photos for i in (p.real, p.vigilance, *p.fakes.values())}

    @property
    def votes_path(self) -> Path:
        return self.root / VOTES

    def image_path(self, image_id: str) -> Path | None:
        """The file of an image id the manifest lists; None for any other string."""
        if not isinstance(image_id, str) or not _ID.fullmatch(image_id) or image_id not in self.image_ids:
            return None
        return self.root / IMAGES / f"{image_id}.png"


def open_study(root: Path) -> Study:
    """Read and check ``root/study.json``; one line naming the problem if it is not a study."""
    from colorbench.reporting.schemas import SchemaError, parse_json

    root = Path(root)
    path = root / MANIFEST
    if not root.is_dir():
        raise UserError(f"{root} is not a folder: name a study folder made by `colorbench study create`")
    try:
        data = parse_json(path.read_bytes())
    except FileNotFoundError:
        raise UserError(f"{root} has no {MANIFEST}: name a study folder made by `colorbench study create`") from None
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None
    except SchemaError as e:
        raise UserError(f"{path} is not valid JSON ({e})") from None
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise UserError(f"{path} is not a valid study ({where}: {first['msg'].removeprefix('Value error, ')})") from None
    study = Study(root, manifest)
    if missing := [i for i in sorted(study.image_ids) if not (root / IMAGES / f"{i}.png").is_file()]:
        raise UserError(f"{root / IMAGES} lacks {len(missing)} of the study's images ({missing[0]}.png...): the study folder is damaged")
    return study
