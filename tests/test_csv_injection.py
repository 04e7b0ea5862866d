"""CSV downloads never hand a spreadsheet a formula: text cells starting with = + - @ TAB CR get a
leading quote (OWASP's CSV-injection rule), numbers (negative ones too) are left as numbers."""

import csv
import io
import re
from dataclasses import replace

import numpy as np
import pytest

from bait_core.records.run_record import RunRecord
from bait_core.learning.loop import run
from bait_core.records.csv_text import csv_text, safe_cell
from bait_core.selection.base import Selection

EVIL = ['=HYPERLINK("http://evil.example","click")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1", "  =1+1"]
NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|nan)", re.IGNORECASE)


def cells(text: str):
    return [c for row in csv.reader(io.StringIO(text)) for c in row]


def assert_no_formula(text: str):
    for c in cells(text):
        if c[:1] in ("=", "+", "-", "@", "\t", "\r") or c.lstrip(" ")[:1] in ("=", "+", "-", "@"):
            assert NUMBER.fullmatch(c.strip(" ")), f"formula cell {c!r}"


@pytest.mark.parametrize("value", EVIL)
def test_safe_cell_quotes_formulas(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", [-1, -0.5, 3, 0.0, float("nan"), np.float64(-2.5), np.int64(-7), True, None,
                                   "-0.25", "-1.5e-05", "+3", "12", "nan", "", "bait", "CPU", "a=b", "x-y"])
def test_numbers_and_plain_text_are_unchanged(value):
    out = safe_cell(value)
    assert out is value or out == value


@pytest.fixture(scope="module")
def evil_record(moons, small_config):
    """A genuine run whose device, metric name, strategy names and class names are formulas (as a
    hand-edited record could carry), with negative gains and objective values."""
    rec = run(small_config(model="linear", rounds=2), dataset=moons)
    rounds = []
    for i, r in enumerate(rec.rounds):
        sel = r.selection
        if sel is not None:
            sel = replace(sel, strategy=EVIL[i % len(EVIL)], gains=-np.abs(sel.gains) - 0.5,
                          objective=-np.abs(sel.objective) - 1.0)
        rounds.append(replace(r, device=EVIL[(i + 1) % len(EVIL)], metric_name=EVIL[(i + 2) % len(EVIL)],
                              selection=sel))
    return RunRecord(config=rec.config, dataset=dict(rec.dataset, name=EVIL[0], classes=EVIL[:2]),
                     model=rec.model, rounds=rounds, library_version=rec.library_version)


def test_record_csvs_have_no_formula_cells(evil_record):
    metrics, picks = evil_record.metrics_csv(), evil_record.picks_csv()
    assert_no_formula(metrics)
    assert_no_formula(picks)
    m = cells(metrics)
    assert "'" + EVIL[1] in m and "'" + EVIL[2] in m                # device and metric name, quoted
    assert "'" + EVIL[0] in cells(picks)                            # the strategy of round 0
    # negative numbers stay numbers
    rows = list(csv.DictReader(io.StringIO(picks)))
    assert rows and all(float(r["gain"]) < 0 for r in rows)
    obj = [r["objective_start"] for r in csv.DictReader(io.StringIO(metrics)) if r["objective_start"]]
    assert obj and all(float(v) < 0 for v in obj)


def test_csv_text_quotes_every_text_cell():
    text = csv_text(["name", "=header"], [[EVIL[k], -k] for k in range(len(EVIL))] + [[Selection, -1.5]])
    assert_no_formula(text)
    assert cells(text)[3] == "0" and cells(text)[5] == "-1"
    assert csv_text(["a"], [["x"]], lineterminator="\n") == "a\nx\n"


def test_cli_summary_goes_through_the_helper():
    """The CLI's summary.csv is written with csv_text (one helper for every CSV the project writes)."""
    import inspect

    import bait_core.__main__ as cli
    src = inspect.getsource(cli._cmd_compare)
    assert "csv_text(" in src and '",".join' not in src
