"""AppTest: the app opens on the demo page and every strategy renders without an exception."""

import pytest
from streamlit.testing.v1 import AppTest

from bait_core import STRATEGIES

APP = "../app.py"  # resolved from this file's folder


def test_app_opens_on_the_demo_with_picks_and_objective():
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "BAIT Explorer"
    assert not at.error
    # the picks map and the objective trajectory are both drawn
    assert len(at.get("plotly_chart")) == 2


@pytest.mark.parametrize("name", [n for n in STRATEGIES if n != "bait"])
def test_every_strategy_renders(name):
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.selectbox[0].select(name).run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 1        # no objective for non-BAIT strategies
    assert any("no Fisher objective" in i.value for i in at.info)
