#!/usr/bin/env bash
# Create (or reuse) the project's virtualenv, cached by the hash of pyproject.toml.
#
# The venv lives in ${SALESCAST_CACHE:-~/.cache/salescast}/venvs/<hash> so a fresh
# clone on the same machine (CI) does not reinstall; ./.venv is a symlink to it.
# EXTRAS selects optional extras (default: dev).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"
EXTRAS="${EXTRAS:-dev}"
command -v "$PY" >/dev/null || { echo "salescast: $PY not found; install Python 3.11" >&2; exit 1; }
CACHE="${SALESCAST_CACHE:-$HOME/.cache/salescast}"
HASH="$( (cat pyproject.toml; echo "$EXTRAS"; "$PY" --version) | sha256sum | cut -c1-16)"
VENV="$CACHE/venvs/$HASH"
if [ ! -f "$VENV/.complete" ]; then
  echo "salescast: creating virtualenv $VENV (extras: $EXTRAS)" >&2
  rm -rf "$VENV"
  mkdir -p "$CACHE/venvs"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q -U pip
  if ! "$VENV/bin/pip" install -q -e ".[$EXTRAS]" >"$VENV/install.log" 2>&1; then
    cat "$VENV/install.log" >&2
    echo "salescast: pip install failed (log above)" >&2
    exit 1
  fi
  touch "$VENV/.complete"
fi
# The editable install points at the clone that created the venv; re-point it here.
"$VENV/bin/pip" install -q --no-deps -e . >/dev/null 2>&1
if [ "$(readlink .venv 2>/dev/null)" != "$VENV" ]; then
  rm -rf .venv
  ln -s "$VENV" .venv
fi
