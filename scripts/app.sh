#!/usr/bin/env bash
# Sets up .venv if needed, then opens the app on the built-in demo (http://localhost:8501).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m streamlit run app.py "$@"
