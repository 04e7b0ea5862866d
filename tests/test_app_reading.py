"""Setup's "How your file was read" (issue 10): the report names every inference, and the overrides
under "Change how it is read" change the reading; a refused reading keeps the current run."""

import numpy as np

import app_keys as AK
from tests.app_helpers import assert_ok, open_app


def _european() -> bytes:
    rng = np.random.default_rng(0)
    rows = ["Temperatur °C;Druck €;Region"]
    for i in range(120):
        rows.append(f"{15 + 5 * (i % 3) + rng.normal():.1f};{1000 + rng.normal() * 8:.2f};{['NA', 'EU', 'AS'][i % 3]}"
                    .replace(".", ","))
    return ("\r\n".join(rows) + "\r\n").encode("cp1252")


def _upload(at, name: str, data: bytes):
    at.get("button_group")[0].set_value("Upload a file").run()
    at.file_uploader(key="setup_data_file").set_value((name, data, "text/csv")).run()
    return at


def _report(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_a_european_csv_is_read_as_meant_and_the_report_says_how():
    at = _upload(open_app("app_pages/setup.py"), "messwerte.csv", _european())
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    ds = at.session_state[AK.UPLOAD_DATASET][1]
    assert ds.classes == ("AS", "EU", "NA") and ds.n_features == 2           # NA is a class, 17,7 a number
    text = _report(at)
    for words in ("How your file was read", "cp1252", "semicolon", "comma", "Classes (3)"):
        assert words in text, words


def test_overrides_change_the_reading_and_a_refusal_keeps_the_run():
    at = _upload(open_app("app_pages/setup.py"), "messwerte.csv", _european())
    before = at.session_state[AK.EXPLORER]
    at.selectbox(key="read_decimal").set_value(".").run()                    # a wrong decimal mark
    assert_ok(at)
    assert at.error and at.session_state[AK.EXPLORER] is before
    at.selectbox(key="read_decimal").set_value("auto").run()
    at.selectbox(key="read_task").set_value("regression").run()             # text labels cannot be regression
    assert_ok(at)
    assert at.error
    at.selectbox(key="read_task").set_value("auto").run()
    assert not at.error
    at.button(key="setup_apply").click().run()
    assert_ok(at)
    ex = at.session_state[AK.EXPLORER]
    assert ex is not before and ex.dataset.classes == ("AS", "EU", "NA")


def test_the_task_override_turns_coded_classes_into_classes():
    rng = np.random.default_rng(1)
    rows = ["f1,f2,code"] + [f"{a:.3f},{b:.3f},{i % 26}" for i, (a, b) in enumerate(rng.normal(size=(260, 2)))]
    at = _upload(open_app("app_pages/setup.py"), "codes.csv", ("\n".join(rows) + "\n").encode())
    assert_ok(at)
    assert at.session_state[AK.UPLOAD_DATASET][1].task == "regression"
    assert "more than 20" in _report(at)                                     # the rule is stated
    at.selectbox(key="read_task").set_value("classification").run()
    assert_ok(at)
    ds = at.session_state[AK.UPLOAD_DATASET][1]
    assert ds.task == "classification" and len(ds.classes) == 26
