"""Services the app and the CLI run on: the interactive run (`explorer`), background jobs (`jobs`),
the run store on disk (`runstore`) and the server warm-up (`warmup`). Never imports streamlit."""
