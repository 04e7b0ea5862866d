"""Records: what a run is as data (`run_record`: RunConfig, RoundResult, RunRecord), the pydantic
schemas every file is checked against (`schemas`), CSV text (`csv_text`) and walkthrough stories
(`story`). Imports `selection` and `common` only."""
