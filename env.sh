#!/usr/bin/env bash
# Run any command inside the project's own virtual environment, creating it on first use.
#   ./env.sh cartsim run experiments/configs/kimmel2021_pfs.toml
#   ./env.sh pytest
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv="$here/.venv"
stamp="$venv/.cartsim-installed"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if [ ! -f "$stamp" ] || [ "$here/pyproject.toml" -nt "$stamp" ]; then
    echo "env.sh: installing cartsim and its dependencies into $venv (first run only)" >&2
    "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
    "$venv/bin/python" -m pip install --quiet -e "$here[test,bench]" >&2
    touch "$stamp"
fi
export PATH="$venv/bin:$PATH"
export MPLBACKEND="${MPLBACKEND:-Agg}"
cd "$here"
exec "$@"
