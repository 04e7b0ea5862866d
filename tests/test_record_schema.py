"""Run records, comparisons and walkthroughs a user opens: every bad file is one ValueError with a
sentence naming the field, quickly (size and nesting caps before parsing, pydantic schema, cross-field
rules); genuine files still load unchanged; a property test feeds mutated records to every reader."""

import copy
import json
import os
import time

import pytest

from bait_core.records import schemas
from bait_core.learning.compare import Comparison
from bait_core.records.run_record import RunRecord
from bait_core.learning.loop import run
from bait_core.records.story import Story

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSET = os.path.join(ROOT, "assets", "walkthrough_digits.json")
FAST_S = 2.0


@pytest.fixture(scope="module")
def record(moons, small_config):
    """A genuine small run: moons (300 points), linear model, BAIT, 2 rounds + the final evaluation."""
    return run(small_config(model="linear", rounds=2), dataset=moons)


@pytest.fixture()
def rec_dict(record):
    return copy.deepcopy(record.to_dict())


def refused(fn, data, *needles):
    """fn(data) raises ValueError quickly whose sentence holds every needle; returns the sentence."""
    t0 = time.perf_counter()
    with pytest.raises(ValueError) as info:
        fn(data)
    elapsed = time.perf_counter() - t0
    msg = str(info.value)
    assert elapsed < FAST_S, f"took {elapsed:.2f} s: {msg}"
    for needle in needles:
        assert needle in msg, msg
    assert "\n" not in msg and "Traceback" not in msg and len(msg) < 600, msg
    return msg


def as_json(d) -> str:
    return json.dumps(d)


# ------------------------------------------------------------------------------------ the listed bad inputs

def test_n_points_1e12_is_refused_not_a_memory_error(rec_dict):
    rec_dict["dataset"]["n_points"] = 1e12                       # a float: not a count at all
    refused(RunRecord.from_json, as_json(rec_dict), "dataset, n_points", "whole number")
    rec_dict["dataset"]["n_points"] = 10**12                     # a whole number over the cap
    refused(RunRecord.from_json, as_json(rec_dict), "dataset, n_points", "at most 1,000,000")


def test_1e400_is_refused_not_an_overflow_error(rec_dict):
    n = rec_dict["dataset"]["n_points"]
    text = as_json(rec_dict).replace(f'"n_points": {n}', '"n_points": 1e400')
    assert "1e400" in text
    refused(RunRecord.from_json, text, "n_points")
    text = as_json(rec_dict).replace('"metric": ', '"metric": 1e400, "x": ', 1)
    refused(RunRecord.from_json, text, "round 0, metric", "finite")


def test_nan_and_infinity_literals_are_not_json(rec_dict):
    text = as_json(rec_dict).replace('"metric": ', '"metric": NaN, "x": ', 1)
    refused(RunRecord.from_json, text, "not valid JSON", "NaN")


def test_100k_deep_nesting_is_refused_before_parsing():
    refused(RunRecord.from_json, "[" * 100_000 + "]" * 100_000, "nested 100,000 levels deep")
    refused(Comparison.from_json, b"{\"a\":" * 100_000 + b"1" + b"}" * 100_000, "nested")
    refused(Story.from_json, "[" * 100_000, "nested")


def test_deep_nesting_inside_a_record_field(rec_dict):
    text = as_json(rec_dict).replace('"params": {', '"params": {"deep": ' + "[" * 5000 + "]" * 5000 + ", ", 1)
    refused(RunRecord.from_json, text, "nested 5,00")


def test_predictions_shorter_than_the_pool(rec_dict):
    assert rec_dict["dataset"]["n_points"] == 225                 # moons: 300 points, a quarter held out for testing
    rec_dict["rounds"][1]["predictions"] = rec_dict["rounds"][1]["predictions"][:17]
    refused(RunRecord.from_json, as_json(rec_dict), "round 1, predictions: has 17 values, the pool has 225 points")


def test_comparison_with_a_zero_round_record_or_no_records(record, rec_dict):
    rec_dict["rounds"] = []
    assert RunRecord.from_dict(rec_dict).rounds == []             # a record saved before its first round opens
    refused(Comparison.from_json, as_json(rec_dict), "has no rounds")
    comp = {"kind": "bait-explorer-comparison", "schema_version": 1, "plan": None,
            "records": [record.to_dict(), rec_dict]}
    refused(Comparison.from_json, as_json(comp), "has no rounds")
    comp["records"] = []
    refused(Comparison.from_json, as_json(comp), "records: is empty")


def test_a_million_tiny_rounds_is_refused_by_size_then_by_count(rec_dict):
    rnd = {"round": 0, "labeled_before": [], "n_labeled": 0, "metric": 0.5, "metric_name": "accuracy",
           "predictions": [0], "confidence": None, "class_counts": [], "picked_class_counts": [],
           "selection": None, "times": {}, "train_epochs": 0, "train_accuracy": None, "device": "CPU"}
    rec_dict["dataset"]["n_points"] = 1
    head = as_json(dict(rec_dict, rounds=[]))[:-len("[]}")]
    one = as_json(rnd)
    big = head + "[" + ",".join([one] * 1_000_000) + "]}"
    assert len(big) > 100 * 2**20
    refused(RunRecord.from_json, big, "MiB", "at most 64 MiB")
    del big
    many = head + "[" + ",".join([one] * (schemas.MAX_ROUNDS + 1)) + "]}"
    assert len(many) < schemas.MAX_FILE_BYTES
    refused(RunRecord.from_json, many, "rounds: has 10,001 entries; at most 10,000")


# ------------------------------------------------------------------------------------ the other rules

@pytest.mark.parametrize("mutate,needles", [
    (lambda d: d["rounds"][0]["selection"]["indices"].__setitem__(0, 225), ["round 0, selection, indices", "outside"]),
    (lambda d: d["rounds"][0]["selection"]["indices"].__setitem__(1, d["rounds"][0]["selection"]["indices"][0]),
     ["round 0, selection, indices", "more than once"]),
    (lambda d: d["rounds"][0]["selection"]["indices"].__setitem__(0, d["rounds"][0]["labeled_before"][0]),
     ["round 0, selection, indices", "labeled before"]),
    (lambda d: d["rounds"][1]["labeled_before"].append(10**6 - 1), ["round 1, labeled_before", "outside"]),
    (lambda d: d["rounds"][1]["labeled_before"].append(-1), ["round 1, labeled_before", "at least 0"]),
    (lambda d: d["rounds"][1].__setitem__("round", 5), ["round 1", "numbered 5"]),
    (lambda d: d["rounds"][2]["confidence"].pop(), ["round 2, confidence", "has 224 values"]),
    (lambda d: d["rounds"][0]["selection"]["scores"].pop(), ["round 0, selection, scores", "has 224 values"]),
    (lambda d: d["rounds"][0]["predictions"].__setitem__(3, 7), ["round 0, predictions", "0 to 1"]),
    (lambda d: d["rounds"][0]["predictions"].__setitem__(3, "1"), ["round 0, predictions, value 3"]),
    (lambda d: d["rounds"][0]["selection"].__setitem__("strategy", "=cmd"), ["unknown strategy"]),
    (lambda d: d["config"].__setitem__("strategy", "nope"), ["config, strategy", "unknown strategy 'nope'"]),
    (lambda d: d["config"].__setitem__("rounds", True), ["config, rounds", "whole number"]),
    (lambda d: d["rounds"][0].__setitem__("metric_name", "=1+1"), ["round 0, metric_name"]),
    (lambda d: d["rounds"][0].__setitem__("device", "x" * 5000), ["round 0, device", "longer than 4,096"]),
    (lambda d: d["rounds"][0]["selection"]["gains"].pop(), ["round 0, selection, gains"]),
    (lambda d: d["rounds"][0].pop("predictions"), ["round 0, predictions: is missing"]),
    (lambda d: d.pop("dataset"), ["dataset: is missing"]),
    (lambda d: d["dataset"].__setitem__("classes", list(range(2000))), ["dataset, classes", "at most 1,000"]),
])
def test_each_rule_names_its_field(rec_dict, mutate, needles):
    mutate(rec_dict)
    refused(RunRecord.from_json, as_json(rec_dict), "The run record is broken", *needles)


def test_story_caps(record):
    d = Story.from_record(record).to_dict()
    d["steps"][0]["caption"] = "x" * (schemas.MAX_TEXT + 1)
    refused(Story.from_json, as_json(d), "step 1, caption", "longer than 100,000")
    d = Story.from_record(record).to_dict()
    d["record"]["rounds"][0]["predictions"] = [0]
    refused(Story.from_json, as_json(d), "run record cannot be read", "round 0, predictions: has 1 value")


def test_comparison_record_errors_name_the_record(record):
    bad = copy.deepcopy(record.to_dict())
    bad["rounds"][1]["predictions"] = []
    comp = {"kind": "bait-explorer-comparison", "schema_version": 1, "plan": None,
            "records": [record.to_dict(), bad]}
    refused(Comparison.from_json, as_json(comp), "Record 2 of the comparison", "round 1, predictions: has 0 values")
    comp["records"] = [record.to_dict()]
    comp["plan"] = {"base": {"strategy": "bait"}, "strategies": ["bait", "=evil"], "seeds": [0]}
    refused(Comparison.from_json, as_json(comp), "plan, strategies", "unknown strategy")


def test_load_checks_the_size_before_reading(tmp_path):
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(schemas.MAX_FILE_BYTES + 1)                      # sparse: nothing is read
    refused(RunRecord.load, big, "at most 64 MiB")
    refused(Story.load, big, "at most 64 MiB")


def test_bytes_that_are_not_text_or_not_json():
    refused(RunRecord.from_json, b"\xff\xfe\x00\xd8garbage", "not valid JSON")
    refused(RunRecord.from_json, b"", "not valid JSON")
    refused(Comparison.from_json, "1" * 5000, "not valid JSON")         # over Python's int-digits limit


def test_app_refuses_a_record_whose_pool_is_not_the_datasets(moons, record):
    """A record naming the current file's fingerprint but another pool size opens with a sentence,
    not a Rounds page that fails on every rerun."""
    import app_services as svc
    from bait_core.service.explorer import Explorer
    from bait_core.learning.models import build_model

    current = Explorer.start(moons, build_model("linear", moons.input_shape, len(moons.classes), seed=0),
                             record.config)
    d = copy.deepcopy(record.to_dict())
    d["dataset"].update(source="mine.csv", n_points=5)
    d["rounds"] = []
    refused(lambda raw: svc.open_record(raw, current=current), as_json(d).encode(), "225", "pool points")
    d["dataset"]["n_points"] = record.n_points
    assert svc.open_record(as_json(d).encode(), current=current).read_only


# ------------------------------------------------------------------------------------ genuine files load unchanged

def test_genuine_files_round_trip_unchanged(record):
    text = record.to_json()
    assert RunRecord.from_json(text).to_json() == text
    assert RunRecord.from_json(text.encode("utf-16")).to_json() == text          # any JSON encoding
    comp = Comparison.from_records([record])
    assert Comparison.from_json(comp.to_json()).to_json() == comp.to_json()
    story = Story.from_record(record)
    assert Story.from_json(story.to_json()).to_json() == story.to_json()
    with open(ASSET, "rb") as f:
        raw = f.read()
    asset = Story.from_json(raw)
    assert json.loads(asset.to_json()) == json.loads(raw)
    assert asset.record.to_json() == json.dumps(json.loads(raw)["record"], allow_nan=False)


def test_regression_record_with_missing_values_round_trips(record):
    d = copy.deepcopy(record.to_dict())
    d["dataset"].update(task="regression", classes=[])
    for r in d["rounds"]:
        r.update(metric_name="rmse", confidence=None, class_counts=[], picked_class_counts=[],
                 predictions=[None if i % 7 == 0 else 0.5 * i for i in range(225)])
    text = json.dumps(d)
    back = RunRecord.from_json(text)
    assert back.rounds[0].predictions.dtype.kind == "f" and back.to_json() == text


# ------------------------------------------------------------------------------------ property test

def _paths(x, prefix=()):
    """Every path into a JSON value (list paths only at the ends and middle of long lists)."""
    yield prefix
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(x, list):
        idx = range(len(x)) if len(x) <= 12 else sorted({0, 1, len(x) // 2, len(x) - 2, len(x) - 1})
        for i in idx:
            yield from _paths(x[i], prefix + (i,))


def test_mutated_files_only_ever_raise_value_error(record):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    base_rec = record.to_dict()
    base_story = Story.from_record(record).to_dict()
    base_comp = json.loads(Comparison.from_records([record]).to_json())
    bases = {"record": base_rec, "story": base_story, "comparison": base_comp}
    paths = {k: list(_paths(v)) for k, v in bases.items()}
    readers = [RunRecord.from_json, Comparison.from_json, Story.from_json]

    weird = st.one_of(
        st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
        st.sampled_from([0, -1, 1e12, 10**12, 1e308, -1e308, float("nan"), float("inf"), 0.5, 2**63]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(["", "NaN", "1e400", "-1", "=HYPERLINK(\"x\")", "bait", "x" * 2000, "\x00"]),
        st.text(max_size=20), st.lists(st.integers(-5, 400), max_size=5), st.just({}), st.just([[[[]]]]))

    def get(d, path):
        for p in path:
            d = d[p]
        return d

    def mutate(d, path, kind, value):
        if not path:
            return value if kind == "replace" else d
        parent, key = get(d, path[:-1]), path[-1]
        if kind == "delete":
            del parent[key]
        elif kind == "replace":
            parent[key] = value
        elif kind == "truncate" and isinstance(parent[key], (list, str)):
            parent[key] = parent[key][: len(parent[key]) // 2]
        elif kind == "duplicate" and isinstance(parent[key], list) and parent[key]:
            parent[key] = parent[key] + parent[key][:1]
        elif kind == "as_string":
            parent[key] = json.dumps(parent[key])
        return d

    @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(data=st.data())
    def check(data):
        which = data.draw(st.sampled_from(sorted(bases)))
        d = copy.deepcopy(bases[which])
        for _ in range(data.draw(st.integers(1, 3))):
            path = data.draw(st.sampled_from(paths[which]))
            kind = data.draw(st.sampled_from(["delete", "replace", "truncate", "duplicate", "as_string"]))
            try:
                d = mutate(d, path, kind, data.draw(weird))
            except (KeyError, IndexError, TypeError):
                pass                                        # an earlier mutation moved that path
        text = json.dumps(d, allow_nan=True)
        edit = data.draw(st.sampled_from(["none", "cut", "bytes", "deep"]))
        raw = text.encode()
        if edit != "none":
            at = data.draw(st.integers(0, len(raw)))
            if edit == "cut":
                raw = raw[:at]
            elif edit == "bytes":
                raw = raw[:at] + data.draw(st.binary(min_size=1, max_size=16)) + raw[at:]
            else:
                raw = raw[:at] + b"[" * 100_000 + raw[at:]
        for reader in readers:
            t0 = time.perf_counter()
            try:
                reader(raw)
            except ValueError as e:
                assert str(e) and "Traceback" not in str(e)
            assert time.perf_counter() - t0 < FAST_S

    check()


def test_random_bytes_only_raise_value_error():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    json_values = st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
        lambda children: st.one_of(st.lists(children, max_size=4),
                                   st.dictionaries(st.sampled_from(["kind", "schema", "rounds", "x"]), children,
                                                   max_size=4)),
        max_leaves=30)

    @settings(max_examples=150, deadline=None, database=None)
    @given(st.one_of(st.binary(max_size=200), st.text(max_size=200), json_values.map(json.dumps)))
    def check(raw):
        for reader in (RunRecord.from_json, Comparison.from_json, Story.from_json):
            try:
                reader(raw)
            except ValueError:
                pass

    check()
