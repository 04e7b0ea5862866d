"""Learning: data loaders, one module per format (the `data` package, text tables in
`data.table_text`), reading options (`reading`), models and their safe loading (`models`), training
(`train`), pool outputs (`outputs`), the round loop (`loop`), comparisons (`compare`) and the 2-D
playground (`playground`). Imports `records`, `selection`, `common`."""
