"""Learning: data loaders and reading options (`data`, `reading`, `table_text`), models and their
safe loading (`models`), training (`train`), pool outputs (`outputs`), the round loop (`loop`),
comparisons (`compare`) and the 2-D playground (`playground`). Imports `records`, `selection`, `common`."""
