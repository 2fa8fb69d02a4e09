"""What each file colorbench reads must hold, checked before anything reads it.

Result files (what `run` and `score --out` write) and a checkpoint's config JSON
are validated against these pydantic models, so a damaged or hand-edited file is
one line naming it and its first bad field, never a traceback deep in pandas or
torch. The models describe the fields colorbench reads; anything else a file
carries is allowed, and kept. Readers read a result through its model's
attributes; validation changes no number on the way (an integer stored where a
float goes is read as that float).

`parse_json` is the one JSON parser for these files: stricter than `json.loads`
where a lenient reading would hide damage (a repeated key, a bare NaN).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator,
)

from colorbench.reporting.results import SCHEMA_VERSION

CHECKPOINT_FORMAT = "colorbench-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1
MAX_SIZE = 4096  # a checkpoint's working size; far beyond any paper's 256, short of exhausting memory


class SchemaError(ValueError):
    """A file that does not hold what it should; ``str()`` names its first bad field."""


# ------------------------------------------------------------------ JSON text
def _object(pairs: list) -> dict:
    if len(found := dict(pairs)) != len(pairs):  # json.loads would keep the last silently
        twice = next(key for key, n in Counter(key for key, _ in pairs).items() if n > 1)
        raise ValueError(f"key {twice!r} appears twice in one object")
    return found


def _not_a_number(token: str):
    raise ValueError(f"{token} is not a JSON number")


def parse_json(data: bytes) -> Any:
    """A file's bytes -> its JSON value. UTF-8, a byte-order mark allowed (editors
    add one); a key repeated within an object, a bare NaN or Infinity, or nesting
    too deep for the parser raise `SchemaError` with the reason."""
    try:
        return json.loads(data.decode("utf-8-sig"), object_pairs_hook=_object, parse_constant=_not_a_number)
    except UnicodeDecodeError as e:
        raise SchemaError(f"not UTF-8 text (byte {e.start})") from None
    except RecursionError:
        raise SchemaError("nested too deeply") from None
    except ValueError as e:  # JSONDecodeError is one
        raise SchemaError(str(e)) from None


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
# What each metric can give: a value outside is no score colorbench made (an SSIM
# of 7, a PSNR of 1e308), and sums, differences and roundings of the values inside
# never overflow. A built-in metric's range is its declaration's
# (`colorbench.scoring.builtin_metrics`), whatever a file says; another metric's
# is the one its file records, within OTHER_METRIC_RANGE.
OTHER_METRIC_RANGE = (-1e9, 1e9)
DIVERSITY_RANGE = (0.0, 1000.0)  # per-image diversity_lpips, diversity_ab_std


def value_range(name: str, record: MetricSpec | None) -> tuple[float, float]:
    """The values ``name`` can take, as the result recording it as ``record`` says."""
    from colorbench.scoring.builtin_metrics import BY_NAME

    if name in BY_NAME:
        return BY_NAME[name].valid_range
    if record is None:
        return DIVERSITY_RANGE if name.startswith("diversity_") else OTHER_METRIC_RANGE
    low, high = record.valid_range
    return max(low, OTHER_METRIC_RANGE[0]), min(high, OTHER_METRIC_RANGE[1])


def _check_range(name: str, value: float | None, where: str, record: MetricSpec | None) -> None:
    low, high = value_range(name, record)
    if value is not None and not low <= value <= high:
        raise ValueError(f"{where}: {value} is outside what {name} can be ({low:g} to {high:g})")


class MetricSpec(_Record):
    name: str
    version: str
    higher_is_better: bool | None
    colour_space: str
    description: str
    kind: Literal["per_image", "set"]
    title: str | None
    digits: Annotated[int, Field(ge=0, le=12)]
    narrow_table: bool
    valid_range: Annotated[list[int | float], Field(min_length=2, max_length=2)]  # a plugin's ints kept as stored
    reliable_from: Count = 0  # fewer images than this: a biased value (FID), flagged

    @model_validator(mode="after")
    def _ordered(self) -> MetricSpec:
        if not self.valid_range[0] < self.valid_range[1]:
            raise ValueError(f"valid_range {self.valid_range} is not (low, high) with low < high")
        return self


class Dataset(_Record):
    name: str
    split: str
    size: Annotated[int, Field(gt=0, lt=2**63)] | Literal["own"]  # `score`: each image at its own
    test_size: Annotated[int, Field(gt=0, lt=2**63)] | None = None  # scored at this size when larger than `size`; None: `size`
    count: Count
    card: dict[str, Any] = {}
    excluded_reason: str | None = None
    photo_of: dict[str, str] | None = None  # {test image id: its photo}: crops of one photo are resampled together


class ScoredDataset(Dataset):
    scored: Count
    excluded: Count
    excluded_ids: list[str] = []


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
    samples: Count | None = None
    lpips: NonNegative | None = None
    ab_std: NonNegative | None = None
    noise_ignored: bool | None = None


class NativeOutput(_Record):
    """Scores of a method's own RGB output (`colorbench.scoring.native_output`)."""

    space: Literal["rgb"]
    metrics: dict[str, Annotated[float, Field(ge=OTHER_METRIC_RANGE[0], le=OTHER_METRIC_RANGE[1])]]
    ci95: dict[str, Interval | None] = {}


class Inference(_Record):
    images_per_s: Annotated[float, Field(gt=0)] | None = None


class Speed(_Record):
    inference: Inference | None = None
    flops_per_image: Count | NonNegative | None = None  # a count, kept an int as stored


def _unique(ids: list[str]) -> list[str]:
    if len(set(ids)) != len(ids):
        twice = next(i for i, n in Counter(ids).items() if n > 1)
        raise ValueError(f"image {twice!r} is listed twice")
    return ids


ImageIds = Annotated[list[str], Field(min_length=1), AfterValidator(_unique)]


class LeftOut(_Record):
    """Images a metric's mean leaves out (a PSNR of +inf)."""

    count: Count


class StoredCheckpoint(_Record):
    path: str


class Divergence(_Record):
    step: Count
    phase: str
    reason: str


class Samples(_Record):
    ids: ImageIds
    grid: StoredPath
    diversity: StoredPath | None = None


class PerImage(_Record):
    """{"id": [...], metric: [value or null per image]}: one value per image."""

    id: ImageIds
    __pydantic_extra__: dict[str, list[float | None]]

    @model_validator(mode="after")
    def _one_value_per_image(self) -> PerImage:
        for name, values in (self.__pydantic_extra__ or {}).items():
            if len(values) != len(self.id):
                raise ValueError(f"{name} has {len(values)} values for {len(self.id)} images")
        return self


class _Result(_Record):
    """A result file, typed: what every reader of results reads (`colorbench.reporting.results.parse`)."""

    _path: str = PrivateAttr("")  # the file it was read from, or written to ("" if none)
    schema_version: Literal[SCHEMA_VERSION]
    created: str
    colorbench_version: str
    machine: Machine
    metrics: dict[str, float | None]
    ci95: dict[str, Interval | None] = {}
    per_image: PerImage | None = None
    left_out_of_mean: dict[str, LeftOut] = {}
    not_computed: dict[str, str] = {}  # {metric: why}
    protocol: _Protocol

    @model_validator(mode="after")
    def _possible_values(self) -> _Result:
        records = self.protocol.metrics
        for name, value in self.metrics.items():
            _check_range(name, value, f"metrics.{name}", records.get(name))
        for name, interval in self.ci95.items():
            if interval is not None:
                for i, value in enumerate(interval):
                    _check_range(name, value, f"ci95.{name}.{i}", records.get(name))
                if interval[0] > interval[1]:
                    raise ValueError(f"ci95.{name}: its lower end {interval[0]} is above its upper end {interval[1]}")
        for name, values in (self.per_image.__pydantic_extra__ or {}).items() if self.per_image else ():
            for i, value in enumerate(values):
                _check_range(name, value, f"per_image.{name}.{i}", records.get(name))
        return self

    def shown(self) -> dict:
        """What ``--json`` prints of a result: what its file holds, per-image values
        aside (they are most of it), and the file, if it has one."""
        return self.model_dump(mode="json", exclude_unset=True, exclude={"per_image"}) | ({"file": self._path} if self._path else {})


class ScoredRun(_Result):
    """What `colorbench run` writes for a method that trained and was scored."""

    status: Literal["ok"] = "ok"
    git_commit: str | None = None
    plugin: Plugin
    protocol: ScoredRunProtocol
    training: Training
    diversity: Diversity | None = None
    native_output: NativeOutput | None = None
    speed: Speed | None = None
    samples: Samples | None = None
    checkpoint: StoredCheckpoint | None = None


class DivergedRun(ScoredRun):
    """A run whose training diverged: no scores, so no count of scored images."""

    status: Literal["diverged"]
    protocol: RunProtocol
    diverged: Divergence


class ScoreResult(_Result):
    """What `colorbench score --out` writes: no method, images at their own size."""

    kind: Literal["score"]
    protocol: ScoreProtocol


class System(_Record):
    """A system scored from its outputs: no plugin, so no parameters or config."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    paper: str


class SubmittedResult(_Result):
    """What `colorbench score --dataset` writes: another system's outputs on a named
    dataset's test set, a row of that dataset's table (`colorbench.scoring.submitted`)."""

    kind: Literal["submitted"]
    run_id: str
    plugin: System
    protocol: ScoreProtocol
    native_output: NativeOutput | None = None
    predictions: str


Result = ScoredRun | DivergedRun | ScoreResult | SubmittedResult


class Judged(_Record):
    """What a study judged: a method's outputs on a dataset (a run of it, when the study names one)."""

    method: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    dataset: str
    run_id: str | None = None


class StudySize(_Record):
    participants: Count
    trials: Count
    photos: Count


class StudyResult(_Result):
    """What `colorbench study results --attach` writes: a method's fooling rate in a
    human real-vs-fake study (`colorbench.study.board`), shown beside that method's run."""

    kind: Literal["study"]
    run_id: str
    judged: Judged
    study: StudySize


def check_result(result: dict) -> Result:
    """``result`` (parsed JSON) as the result it is; `SchemaError` naming its first bad field if it is none."""
    if result.get("kind") == "study":  # `colorbench study results --attach`
        return _check(StudyResult, result)
    if result.get("kind") in ("score", "submitted"):
        model = ScoreResult if result["kind"] == "score" else SubmittedResult
    else:
        model = DivergedRun if result.get("status") == "diverged" else ScoredRun
    return _check(model, result)


# ------------------------------------------------------------------ checkpoints
class CheckpointConfig(_Record):
    """``NAME.json`` beside a checkpoint's weights (`colorbench.training.checkpoints.save`)."""

    format: Literal[CHECKPOINT_FORMAT]
    format_version: Literal[CHECKPOINT_FORMAT_VERSION]
    plugin: Annotated[str, Field(min_length=1)]
    plugin_version: str
    size: Annotated[int, AfterValidator(_working_size)]
    config: dict[str, Any]
    weights_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


def check_checkpoint_config(meta: dict) -> None:
    _check(CheckpointConfig, meta)


# ------------------------------------------------------------------ training state
def check_training_state(saved: object, name: str) -> None:
    """``NAME-training.json`` (`colorbench.training.checkpoints.write_training_state`): its
    tensors must be the file beside it that this state wrote, never a path."""
    if not isinstance(saved, dict):
        raise SchemaError("not a JSON object")
    tensors = saved.get("tensors")
    if not isinstance(tensors, str) or not re.fullmatch(re.escape(name) + r"\.step[0-9]+\.safetensors", tensors):
        raise SchemaError(f"tensors: {tensors!r} is not a {name}.stepN.safetensors beside it")
    if not isinstance(saved.get("state"), dict):
        raise SchemaError("state: Field required" if "state" not in saved else "state: not a JSON object")


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


def _check(model: type[BaseModel], data: dict) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise SchemaError(_first_problem(e, data)) from None
