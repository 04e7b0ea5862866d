"""BAIT Explorer — Streamlit entry point: page config, session defaults, navigation, sidebar."""

from pathlib import Path

import streamlit as st

import app_keys as K
import app_services
import app_session as S
from bait_core.learning.train import device_label, pick_device

app_services.serialize_ast_parse()      # before any background thread: CPython 3.11.7's AST race (see there)
from bait_core.viz.text import inline_code

# the tab icon is a file in the repository: a material or emoji icon here makes browsers fetch it from a CDN
_FAVICON = str(Path(__file__).resolve().parent / "assets" / "favicon.png")
st.set_page_config(page_title="BAIT Explorer", page_icon=_FAVICON, layout="wide")
S.warm_umap()            # first: the demo's UMAP map starts (or is read from disk) while the run is built
S.init_state()
if S.presenting():      # a first load with ?present=1 starts with the sidebar collapsed (the browser keeps a
    st.set_page_config(initial_sidebar_state="collapsed")   # presenter's own open / close; the toggle leaves it)
S.sync_url()
S.warm_compute()

pages = [
    st.Page("app_pages/setup.py", title="Setup", icon=":material/tune:"),
    st.Page("app_pages/rounds.py", title="Rounds", icon=":material/model_training:", default=True),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("app_pages/records.py", title="Records", icon=":material/folder_open:"),
    st.Page("app_pages/walkthrough.py", title="Walkthrough", icon=":material/slideshow:"),
    st.Page("app_pages/learn.py", title="Learn", icon=":material/school:"),
]
nav = st.navigation(pages)

ex = S.explorer()
with st.sidebar:
    st.markdown("**Current run**" + (" (read-only record)" if ex.read_only else ""))
    st.markdown(f"Dataset: {inline_code(ex.dataset.name)}  \nModel: {inline_code(ex.config.model)}  \n"
                f"Strategy: {inline_code(ex.config.strategy)}  \nDevice: {inline_code(device_label(pick_device()))}  \n"
                f"Labeled: **{ex.n_labeled}** of {ex.dataset.X.shape[0]}  \nRounds run: **{len(ex.rounds)}**")
    st.caption("The run every page works on; change it on Setup, or open a saved record on Records.")
    st.toggle("Presentation mode", key=K.PRESENT,
              help="For a projector (1280×720): the Rounds page shows one row of controls, the map, the "
                   "objective and the learning curve on one screen, in larger type. The same as opening the "
                   "page with ?present=1 in its address; a reload keeps it.")

nav.run()
