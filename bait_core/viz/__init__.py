"""Views as data: Plotly figure builders (`plots`), 2-D projections of embeddings (`projection`) and
text made safe for Markdown and figures (`text`). Imports `learning`, `records`, `selection`."""
