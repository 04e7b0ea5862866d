"""BAIT Explorer — Streamlit entry point: page config, session defaults, navigation."""

import streamlit as st

st.set_page_config(page_title="BAIT Explorer", page_icon="🎣", layout="wide")

pages = [
    st.Page("pages/demo.py", title="BAIT on a toy pool", icon="🎣", default=True),
]
st.navigation(pages).run()
