#!/usr/bin/env bash
# Build the documentation as a fresh clone would after `pip install -e '.[docs]'`:
# warnings are errors (-W), every one is reported (--keep-going), every reference must
# resolve (-n). Offline: the intersphinx inventories are written by docs/_ext/.
# Builds into a temporary directory, removed afterwards; exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

echo "== docs: sphinx-build -W --keep-going -n -b html docs"
sphinx-build -W --keep-going -n -q -b html -d "$out/doctrees" docs "$out/html"
echo "== docs: built $(find "$out/html" -name '*.html' | wc -l) pages"
