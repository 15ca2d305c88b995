#!/usr/bin/env bash
# Line coverage of the test suite, with the processes the tests start (the CLI, the emulator server) included.
#   bench/coverage.sh                 # the whole suite (CI's selection)
#   bench/coverage.sh tests/test_e2e_recovery.py -k creates   # any pytest arguments
# Needs the `mutation` extra (coverage). Processes killed with SIGKILL (the crash tests) save nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export COVERAGE_FILE="$PWD/.coverage"   # absolute: subprocesses run in temporary folders
rm -f .coverage .coverage.*
"$PY" -m coverage run -m pytest -q -p no:cacheprovider "$@" || status=$?
"$PY" -m coverage combine -q
"$PY" -m coverage report --sort=cover | tail -n 45
"$PY" -m coverage report --include='reconciler/emulator/*' | tail -n 1 | sed 's/^TOTAL/emulator/'
exit "${status:-0}"
