"""The declared schema of every JSON file a user opens (run records, comparisons, walkthroughs), with
size caps, checked at the boundary before anything is built from the file.

Three layers, each turning a problem into a `ValueError` with a sentence that names the field:

1. `parse_json(text, what)`: the raw text — at most `MAX_FILE_BYTES` bytes, brackets nested at most
   `MAX_DEPTH` deep (measured by a linear scan *before* `json.loads` recurses), no NaN/Infinity
   literals, valid UTF-8/16/32 JSON.
2. pydantic models (`RecordSchema`, `RoundSchema`, `SelectionSchema`, `ConfigSchema`, `DatasetSchema`,
   `ModelSchema`, `PlanSchema`, `ComparisonSchema`, `StorySchema`, `StoryStepSchema`): strict types
   (no bool for an int, no 1.5 for a count), finite numbers, string lengths, list lengths, known
   strategy names. `validate(model, data, what)` converts pydantic's `ValidationError` into at most
   three readable lines ("round 3, predictions, value 17: must be a whole number").
3. `check_record(rec)`: the cross-field rules — every per-point array has n_points values, indices
   are in range and unique, rounds are numbered 0..R-1, a round's picks were not labeled before it,
   rounds × n_points stays under `MAX_VALUES`.

The JSON format is unchanged (schema version 1); unknown keys are ignored, so files from this and
older versions load. Nothing here imports streamlit.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, Literal, Optional, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from bait_core.records.metrics import METRIC_SPECS
from bait_core.selection.registry import STRATEGIES

# ----------------------------------------------------------------------------- caps
MAX_FILE_BYTES = 64 * 2**20      # a file a user opens (bytes, before parsing)
MAX_DEPTH = 64                   # bracket nesting (a record needs 6, a walkthrough or comparison 7)
MAX_ROUNDS = 10_000              # rounds in one record
MAX_POINTS = 1_000_000           # pool points of a record's dataset (data loading caps at 200,000 rows)
MAX_VALUES = 25_000_000          # rounds × n_points: the per-point arrays the record expands to
MAX_CLASSES = 1_000              # as bait_core.learning.data.MAX_CLASSES
MAX_RUNS = 200                   # records in one comparison
MAX_NAME = 4_096                 # characters of a name, label, device, path, title
MAX_TEXT = 100_000               # characters of an introduction or a caption
MAX_KEYS = 1_000                 # keys of a free-form dict (times, params, extra identity fields)
METRICS = tuple(METRIC_SPECS)      # ("accuracy", "rmse"): records.metrics

Name = Annotated[str, StringConstraints(max_length=MAX_NAME)]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
Count = Annotated[int, Field(ge=0, le=MAX_POINTS)]
Index = Annotated[int, Field(ge=0, lt=MAX_POINTS)]
Indices = Annotated[list[Index], Field(max_length=MAX_POINTS)]
Num = Optional[float]                                   # None: a NaN/inf that was written as null
Nums = Annotated[list[Num], Field(max_length=MAX_POINTS)]
Seconds = Annotated[dict[Name, Num], Field(max_length=MAX_KEYS)]
Prediction = Union[int, float, None]                    # class index (classification) or value (regression)


class _Schema(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False, frozen=True)


def _known_strategy(v: str) -> str:
    if v not in STRATEGIES:
        raise ValueError(f"unknown strategy '{v[:40]}' (known: {', '.join(STRATEGIES)})")
    return v


class ConfigSchema(_Schema):
    """RunConfig as saved (every field optional: a missing one takes RunConfig's default)."""

    data: Name = "builtin:digits"
    model: Name = "mlp"
    strategy: Name = "bait"
    rounds: Annotated[int, Field(ge=0, le=10**6)] = 10      # planned; the rounds list is capped at MAX_ROUNDS
    batch_size: Annotated[int, Field(ge=1, le=MAX_POINTS)] = 10
    initial: Annotated[int, Field(ge=0, le=MAX_POINTS)] = 20     # 0 only for a run labeled by a person
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    lamb: Annotated[float, Field(gt=0)] = 1.0
    oversample: Annotated[float, Field(ge=1)] = 2.0
    approximation: Literal["none", "top-c", "binary"] = "none"
    top_classes: Annotated[int, Field(ge=1)] = 10
    pool_sample: Annotated[int, Field(ge=0)] = 0
    preset: Name = "quick"
    device: Name = "auto"
    label_column: Optional[Name] = None
    oracle: Literal["simulated", "person"] = "simulated"
    first_batch: Literal["k-center", "random"] = "k-center"

    _strategy = field_validator("strategy")(_known_strategy)


class DatasetSchema(_Schema):
    """Dataset identity: only n_points is required; other keys are kept as they are."""

    model_config = ConfigDict(extra="allow")
    n_points: Annotated[int, Field(ge=1, le=MAX_POINTS)]
    name: Optional[Name] = None
    source: Optional[Name] = None
    fingerprint: Optional[Name] = None
    task: Optional[Literal["classification", "regression"]] = None
    n_test: Optional[Annotated[int, Field(ge=0)]] = None
    input_shape: Optional[Annotated[list[Annotated[int, Field(ge=0)]], Field(max_length=8)]] = None
    classes: Annotated[list[Union[Name, int, float]], Field(max_length=MAX_CLASSES)] = []


class ModelSchema(_Schema):
    model_config = ConfigDict(extra="allow")
    name: Optional[Name] = None
    parameters: Optional[Annotated[int, Field(ge=0)]] = None
    embedding_dim: Optional[Annotated[int, Field(ge=0)]] = None


class SelectionSchema(_Schema):
    strategy: Name
    indices: Indices
    gains: Nums
    pruned: Indices = []
    forward_indices: Indices = []
    forward_gains: Nums = []
    objective: Nums = []
    n_forward: Annotated[int, Field(ge=0, le=MAX_POINTS)] = 0
    timings: Seconds = {}
    params: Annotated[dict[Name, Any], Field(max_length=MAX_KEYS)] = {}
    scores: Optional[Nums] = None

    _strategy = field_validator("strategy")(_known_strategy)


class RoundSchema(_Schema):
    round: Annotated[int, Field(ge=0, le=MAX_ROUNDS)]
    labeled_before: Indices
    n_labeled: Count
    metric: Num
    metric_name: Literal[METRICS]
    predictions: Annotated[list[Prediction], Field(max_length=MAX_POINTS)]
    confidence: Optional[Annotated[list[Optional[Annotated[float, Field(ge=0, le=1)]]],
                                   Field(max_length=MAX_POINTS)]] = None
    class_counts: Annotated[list[Count], Field(max_length=MAX_CLASSES)] = []
    picked_class_counts: Annotated[list[Count], Field(max_length=MAX_CLASSES)] = []
    selection: Optional[SelectionSchema] = None
    times: Seconds = {}
    train_epochs: Annotated[int, Field(ge=0)] = 0
    train_accuracy: Optional[Annotated[float, Field(ge=0, le=1)]] = None
    device: Name = ""


Time = Annotated[str, StringConstraints(max_length=64)]
LabelValue = Union[int, float]


class LabelEntrySchema(_Schema):
    index: Index
    label: LabelValue
    round: Annotated[int, Field(ge=0, le=MAX_ROUNDS)]
    time: Time = ""
    oracle: Literal["person", "simulated"]


class _Answer(_Schema):
    index: Index
    label: LabelValue


class _Skip(_Schema):
    index: Index
    why: Literal["skip", "not sure"] = "skip"


class _When(_Schema):
    index: Index
    time: Time = ""


class PendingSchema(_Schema):
    round: Annotated[int, Field(ge=0, le=MAX_ROUNDS)]
    indices: Annotated[list[Index], Field(max_length=100_000)]
    reveal: bool = False
    answers: Annotated[list[_Answer], Field(max_length=100_000)] = []
    skipped: Annotated[list[_Skip], Field(max_length=100_000)] = []
    history: Annotated[list[Index], Field(max_length=200_000)] = []
    times: Annotated[list[_When], Field(max_length=200_000)] = []


class LabelBookSchema(_Schema):
    """The labels a run obtained (records.label_book.LabelBook): labels.json, and a record's "labels"."""

    kind: Literal["bait-explorer-labels"]
    version: Annotated[int, Field(ge=1, le=1)]
    entries: Annotated[list[LabelEntrySchema], Field(max_length=MAX_POINTS)] = []
    pending: Optional[PendingSchema] = None
    returned: Indices = []
    mask: Optional[Indices] = None


class RecordSchema(_Schema):
    kind: Literal["bait-explorer-run"]
    schema_version: int
    library_version: Name = ""
    created: Name = ""
    config: ConfigSchema
    dataset: DatasetSchema
    model: ModelSchema
    rounds: Annotated[list[RoundSchema], Field(max_length=MAX_ROUNDS)]
    labels: Optional[dict] = None                   # a LabelBook (LabelBookSchema), checked when the record is read


class PlanSchema(_Schema):
    base: ConfigSchema
    strategies: Annotated[list[Name], Field(min_length=1, max_length=len(STRATEGIES))]
    seeds: Annotated[list[Annotated[int, Field(ge=0, le=2**63 - 1)]], Field(min_length=1, max_length=MAX_RUNS)]

    @field_validator("strategies")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        for s in v:
            _known_strategy(s)
        return v


class ComparisonSchema(_Schema):
    """The comparison's own fields; each record is then read as a run record."""

    kind: Literal["bait-explorer-comparison"]
    schema_version: int
    plan: Optional[PlanSchema] = None
    records: Annotated[list[dict], Field(min_length=1, max_length=MAX_RUNS)]


class StoryStepSchema(_Schema):
    round: Annotated[int, Field(ge=0, le=MAX_ROUNDS)]
    title: Name = ""
    caption: Text = ""


class StorySchema(_Schema):
    schema_: Literal["bait-explorer-story"] = Field(alias="schema")
    version: int
    title: Name
    intro: Text = ""
    steps: Annotated[list[StoryStepSchema], Field(min_length=1, max_length=MAX_ROUNDS)]
    record: dict


# ----------------------------------------------------------------------------- raw text

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)   # never fails once it sees a quote: linear
_STEP = np.zeros(256, dtype=np.int8)
_STEP[[ord("["), ord("{")]], _STEP[[ord("]"), ord("}")]] = 1, -1


def json_depth(text: str) -> int:
    """The deepest bracket nesting of JSON text (strings skipped), in linear time with no recursion."""
    b = np.frombuffer(_STRING.sub("", text).encode("utf-8", "surrogatepass"), dtype=np.uint8)
    step = _STEP[b]
    step = step[np.flatnonzero(step)]
    return int(np.cumsum(step, dtype=np.int64).max(initial=0)) if step.size else 0


def check_size(size: int, what: str, max_bytes: int = MAX_FILE_BYTES) -> None:
    """ValueError "The <what> is N MiB; files of at most 64 MiB can be opened." when size > max_bytes."""
    if size > max_bytes:
        raise ValueError(f"The {what} is {size / 2**20:,.1f} MiB; files of at most {max_bytes / 2**20:,.0f} MiB "
                         "can be opened.")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json(text: str | bytes, what: str, *, max_bytes: int = MAX_FILE_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Parse a file's JSON text (str, or bytes in UTF-8/16/32) within the caps.

    ValueError "The <what> is N MiB; ..." over `max_bytes`, "... nested N levels deep ..." over
    `max_depth` (checked before json.loads recurses), "The <what> is not valid JSON (...)." otherwise."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        size = len(text)
    elif isinstance(text, str):
        size = len(text) if len(text) > max_bytes else len(text.encode("utf-8", "surrogatepass"))
    else:
        raise ValueError(f"The {what} must be JSON text, not {type(text).__name__}.")
    check_size(size, what, max_bytes)
    if not isinstance(text, str):
        raw = bytes(text)
        try:
            text = raw.decode(json.detect_encoding(raw))
        except (UnicodeDecodeError, LookupError) as e:
            raise ValueError(f"The {what} is not valid JSON ({e}).") from None
        if text.startswith("\ufeff"):
            text = text[1:]
    depth = json_depth(text)
    if depth > max_depth:
        raise ValueError(f"The {what} is nested {depth:,} levels deep; a BAIT Explorer file needs at most "
                         f"{max_depth}.")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(f"The {what} is nested too deeply to read.") from None
    except ValueError as e:   # JSONDecodeError, NaN/Infinity, an integer with more than 4,300 digits
        raise ValueError(f"The {what} is not valid JSON ({str(e)[:200]}).") from None


# ----------------------------------------------------------------------------- readable errors

_LIST_ITEM = {"rounds": "round {}", "records": "record {}", "steps": "step {}"}
_ONE_BASED = {"records", "steps"}
_UNION_TAGS = {"int", "float", "str", "bool", "none", "list", "dict", "literal", "constrained-int",
               "constrained-float", "constrained-str"}


def _where(loc: tuple) -> str:
    parts: list[str] = []
    prev: Any = None
    for p in loc:
        if isinstance(p, int):
            if isinstance(prev, str) and prev in _LIST_ITEM:
                parts[-1] = _LIST_ITEM[prev].format(p + 1 if prev in _ONE_BASED else p)
            else:
                parts.append(f"value {p}")
        elif isinstance(p, str) and (p in _UNION_TAGS or "[" in p or p.startswith(("function-", "nullable"))):
            continue
        else:
            parts.append("schema" if p == "schema_" else str(p))
        prev = p
    return ", ".join(parts) or "the file"


def _say(err: dict) -> str:
    t, ctx, inp = err.get("type", ""), err.get("ctx") or {}, err.get("input")
    got = ""
    if isinstance(inp, (bool, int, float)) or (isinstance(inp, str) and len(inp) <= 40):
        shown = repr(inp) if not isinstance(inp, int) or abs(inp) < 10**30 else f"a {len(str(abs(inp))):,}-digit number"
        got = f" (got {shown})"
    elif isinstance(inp, (list, dict)):
        got = f" (got a {'list' if isinstance(inp, list) else 'dict'})"
    elif isinstance(inp, str):
        got = f" (got a text of {len(inp):,} characters)"
    if t == "missing":
        return "is missing"
    if t == "too_long":
        return f"has {ctx.get('actual_length', '?'):,} entries; at most {ctx.get('max_length'):,} are allowed" \
            if isinstance(ctx.get("actual_length"), int) else f"is too long (at most {ctx.get('max_length')})"
    if t == "string_too_long":
        return f"is longer than {ctx.get('max_length'):,} characters"
    if t == "too_short":
        return "is empty" if ctx.get("min_length") == 1 else f"needs at least {ctx.get('min_length')} entries"
    if t in ("int_type", "int_from_float"):
        return "must be a whole number" + got
    if t in ("float_type",):
        return "must be a number" + got
    if t == "finite_number":
        return "must be a finite number" + got
    if t in ("string_type",):
        return "must be text" + got
    if t in ("list_type",):
        return "must be a list" + got
    if t in ("dict_type", "model_type", "model_attributes_type"):
        return "must be an object {...}" + got
    if t in ("bool_type",):
        return "must be true or false" + got
    if t == "less_than_equal":
        return f"must be at most {ctx.get('le'):,}" + got
    if t == "less_than":
        return f"must be less than {ctx.get('lt'):,}" + got
    if t == "greater_than_equal":
        return f"must be at least {ctx.get('ge'):,}" + got
    if t == "greater_than":
        return f"must be more than {ctx.get('gt'):,}" + got
    if t == "literal_error":
        return f"must be {ctx.get('expected', 'one of the known values')}" + got
    if t == "value_error":
        return str(err.get("msg", "")).removeprefix("Value error, ")
    return str(err.get("msg", "is not valid")).rstrip(".").lower() + got


def describe(e: ValidationError, limit: int = 3) -> str:
    """One to `limit` readable "where: what" lines of a pydantic ValidationError (joined by '; ')."""
    lines: list[str] = []
    seen: set[str] = set()
    errors = e.errors(include_url=False)
    for err in errors:
        where = _where(tuple(err.get("loc", ())))
        if where in seen:                        # a union reports each member; say the place once
            continue
        seen.add(where)
        try:
            what = _say(err)
        except (TypeError, ValueError):          # an unusual ctx: pydantic's own words
            what = str(err.get("msg", "is not valid"))
        lines.append(f"{where}: {what}")
        if len(lines) == limit:
            break
    more = len({_where(tuple(x.get('loc', ()))) for x in errors}) - len(lines)
    return "; ".join(lines) + (f" (and {more:,} more problem{'s' if more != 1 else ''})" if more > 0 else "")


def validate(model: type[_Schema], data: Any, what: str) -> Any:
    """`model.model_validate(data)`; ValueError "The <what> is broken: <where>: <what is wrong>." otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ValueError(f"The {what} is broken: {describe(e)}.") from None
    except RecursionError:
        raise ValueError(f"The {what} is nested too deeply to read.") from None


# ----------------------------------------------------------------------------- cross-field rules

def _n(x: int) -> str:
    return f"{x:,}"


def _index_problem(values: list[int], n: int) -> Optional[str]:
    if not values:
        return None
    a = np.asarray(values, dtype=np.int64)
    if a.max() >= n:
        return f"index {_n(int(a.max()))} is outside the pool of {_n(n)} points"
    if np.unique(a).size != a.size:
        return "lists a point more than once"
    return None


def check_record(rec: RecordSchema, what: str = "run record") -> None:
    """The cross-field rules of a validated record; ValueError "The run record is broken: round 3,
    predictions: has 17 values, the pool has 1,797 points." for the first one broken."""
    n = rec.dataset.n_points
    k = len(rec.dataset.classes)
    classification = rec.dataset.task != "regression"
    rounds = rec.rounds

    def bad(where: str, problem: str) -> ValueError:
        return ValueError(f"The {what} is broken: {where}: {problem}.")

    if len(rounds) * n > MAX_VALUES:
        raise ValueError(f"The {what} holds {_n(len(rounds))} rounds of {_n(n)} points; at most {_n(MAX_VALUES)} "
                         "per-point values can be opened.")
    for pos, r in enumerate(rounds):
        at = f"round {pos}"
        if r.round != pos:
            raise bad(at, f"it is numbered {r.round}; rounds must be numbered 0, 1, 2, … in order")
        if len(r.predictions) != n:
            raise bad(f"{at}, predictions", f"has {_n(len(r.predictions))} values, the pool has {_n(n)} points")
        if classification:
            p = r.predictions
            if any(type(v) is not int for v in p):
                raise bad(f"{at}, predictions", "a classification prediction must be a class number")
            if p and k and (min(p) < 0 or max(p) >= k):
                raise bad(f"{at}, predictions", f"class numbers must be 0 to {k - 1} (the dataset has {k} classes)")
        if r.confidence is not None and len(r.confidence) != n:
            raise bad(f"{at}, confidence", f"has {_n(len(r.confidence))} values, the pool has {_n(n)} points")
        problem = _index_problem(r.labeled_before, n)
        if problem:
            raise bad(f"{at}, labeled_before", problem)
        for name in ("class_counts", "picked_class_counts"):
            counts = getattr(r, name)
            if counts and len(counts) != k:
                raise bad(f"{at}, {name}", f"has {len(counts)} counts, the dataset has {k} classes")
        s = r.selection
        if s is None:
            continue
        for name in ("indices", "pruned", "forward_indices"):
            problem = _index_problem(getattr(s, name), n)
            if problem:
                raise bad(f"{at}, selection, {name}", problem)
        if len(s.gains) != len(s.indices):
            raise bad(f"{at}, selection, gains", f"has {len(s.gains)} values for {len(s.indices)} picks")
        if s.scores is not None and len(s.scores) != n:
            raise bad(f"{at}, selection, scores", f"has {_n(len(s.scores))} values, the pool has {_n(n)} points")
        if s.indices and r.labeled_before and set(s.indices) & set(r.labeled_before):
            j = min(set(s.indices) & set(r.labeled_before))
            raise bad(f"{at}, selection, indices", f"picks point {_n(j)}, which was labeled before the round")


def finite_or_nan(v: Optional[float]) -> float:
    """None (how NaN and inf are saved) → NaN; a number → float."""
    return math.nan if v is None else float(v)

