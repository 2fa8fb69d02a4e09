"""What each file colorbench reads must hold, checked before anything reads it.

Result files (what `run` and `score --out` write) and a checkpoint's config JSON
are validated against these pydantic models, so a damaged or hand-edited file is
one line naming it and its first bad field, never a traceback deep in pandas or
torch. The models describe the fields colorbench reads; anything else a file
carries is allowed. Validation only checks: readers keep the parsed JSON as it
is, so no number changes on the way.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator,
)

from colorbench.results import SCHEMA_VERSION

CHECKPOINT_FORMAT = "colorbench-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1
MAX_SIZE = 4096  # a checkpoint's working size; far beyond any paper's 256, short of exhausting memory


class SchemaError(ValueError):
    """A file that does not hold what it should; ``str()`` names its first bad field."""


# strict: "64" is not 64 and true is not 1; no NaN or infinity (colorbench never
# writes them: they are not JSON)
_STRICT = ConfigDict(strict=True, allow_inf_nan=False)


class _Record(BaseModel):
    model_config = ConfigDict(**_STRICT, extra="allow")


Int64 = Annotated[int, Field(ge=-(2**63), lt=2**63)]  # pandas and numpy hold them as int64
Count = Annotated[int, Field(ge=0, lt=2**63)]
NonNegative = Annotated[float, Field(ge=0)]
Interval = Annotated[list[float], Field(min_length=2, max_length=2)]


def _inside_results(path: str) -> str:
    stored = PurePosixPath(path)
    if not stored.parts or stored.is_absolute() or ".." in stored.parts or "\\" in path:
        raise ValueError(f"{path!r} is not a relative path inside the results folder")
    return path


StoredPath = Annotated[str, AfterValidator(_inside_results)]


def _working_size(size: int) -> int:
    if size < 16 or size > MAX_SIZE or size & (size - 1):
        raise ValueError(f"{size} is not a power of two from 16 to {MAX_SIZE}")
    return size


# ------------------------------------------------------------------ result files
class MetricSpec(_Record):
    name: str
    version: str
    higher_is_better: bool | None
    colour_space: str
    description: str


class Dataset(_Record):
    name: str
    split: str
    size: Annotated[int, Field(gt=0, lt=2**63)] | Literal["own"]  # `score`: each image at its own
    count: Count
    card: dict[str, Any] = {}
    excluded_reason: str | None = None


class ScoredDataset(Dataset):
    scored: Count
    excluded: Count


class _Protocol(_Record):
    metrics: dict[str, MetricSpec]
    evaluation: str
    ci95: str | dict[str, Any] | None = None


class RunProtocol(_Protocol):
    dataset: Dataset
    profile: str
    seed: Int64
    overrides: dict[str, Any] = {}
    diversity_samples: Count | None = None


class ScoredRunProtocol(RunProtocol):
    dataset: ScoredDataset


class ScoreProtocol(_Protocol):
    dataset: ScoredDataset


class Plugin(_Record):
    name: str
    paper: str
    hint: str | None = None
    parameters: Count


class Machine(_Record):
    python: str
    torch: str
    device: str
    device_name: str


class Training(_Record):
    seconds: NonNegative


class Diversity(_Record):
    applicable: bool
    lpips: NonNegative | None = None
    noise_ignored: bool | None = None


class Inference(_Record):
    images_per_s: Annotated[float, Field(gt=0)] | None = None


class Speed(_Record):
    inference: Inference | None = None
    flops_per_image: NonNegative | None = None


class Samples(_Record):
    ids: list[str]
    grid: StoredPath
    diversity: StoredPath | None = None


class PerImage(_Record):
    """{"id": [...], metric: [value or null per image]}: one value per image."""

    id: Annotated[list[str], Field(min_length=1)]
    __pydantic_extra__: dict[str, list[float | None]]

    @model_validator(mode="after")
    def _one_value_per_image(self) -> PerImage:
        for name, values in (self.__pydantic_extra__ or {}).items():
            if len(values) != len(self.id):
                raise ValueError(f"{name} has {len(values)} values for {len(self.id)} images")
        return self


class _Result(_Record):
    schema_version: Literal[SCHEMA_VERSION]
    created: str
    colorbench_version: str
    machine: Machine
    metrics: dict[str, float | None]
    ci95: dict[str, Interval | None] = {}
    per_image: PerImage | None = None


class ScoredRun(_Result):
    """What `colorbench run` writes for a method that trained and was scored."""

    status: Literal["ok"] = "ok"
    git_commit: str | None = None
    plugin: Plugin
    protocol: ScoredRunProtocol
    training: Training
    diversity: Diversity | None = None
    speed: Speed | None = None
    samples: Samples | None = None


class DivergedRun(ScoredRun):
    """A run whose training diverged: no scores, so no count of scored images."""

    status: Literal["diverged"]
    protocol: RunProtocol


class ScoreResult(_Result):
    """What `colorbench score --out` writes: no method, images at their own size."""

    kind: Literal["score"]
    protocol: ScoreProtocol


def check_result(result: dict) -> None:
    """Raise `SchemaError` unless ``result`` (parsed JSON) is a result file."""
    if result.get("kind") == "score":
        model = ScoreResult
    else:
        model = DivergedRun if result.get("status") == "diverged" else ScoredRun
    _check(model, result)


# ------------------------------------------------------------------ checkpoints
class CheckpointConfig(_Record):
    """``NAME.json`` beside a checkpoint's weights (`colorbench.checkpoints.save`)."""

    format: Literal[CHECKPOINT_FORMAT]
    format_version: Literal[CHECKPOINT_FORMAT_VERSION]
    plugin: Annotated[str, Field(min_length=1)]
    plugin_version: str
    size: Annotated[int, AfterValidator(_working_size)]
    config: dict[str, Any]
    weights_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


def check_checkpoint_config(meta: dict) -> None:
    _check(CheckpointConfig, meta)


# ------------------------------------------------------------------ messages
def _first_problem(error: ValidationError, data: object, within: tuple = ()) -> str:
    """"protocol.dataset.scored: Field required": the first bad field and what is wrong."""
    first = error.errors()[0]
    message = first["msg"].removeprefix("Value error, ")
    where = [*within, *(first["loc"] if first["type"] == "missing" else _present(first["loc"], data))]
    return f"{'.'.join(map(str, where))}: {message}" if where else message


def _present(loc: tuple, data: object) -> list:
    """The part of an error's location that is in the file: pydantic adds the
    member's name when a value fits none of a union's types."""
    path = []
    for part in loc:
        if isinstance(data, dict) and part in data or isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
            path.append(part)
        else:
            break
    return path


def _check(model: type[BaseModel], data: dict) -> None:
    try:
        model.model_validate(data)
    except ValidationError as e:
        raise SchemaError(_first_problem(e, data)) from None
