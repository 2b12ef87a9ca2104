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
# The web app's browser tests drive Debian's Chromium (no browser is downloaded at run time).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "env.sh: installing Debian's chromium for the browser tests (first run only)" >&2
    { apt-get install -y -q chromium chromium-driver || { apt-get update -q && apt-get install -y -q chromium chromium-driver; }; } >&2 \
        || echo "env.sh: could not install chromium; the browser tests will fail (apt-get install chromium)" >&2
fi
export PATH="$venv/bin:$PATH"
export MPLBACKEND="${MPLBACKEND:-Agg}"
cd "$here"
exec "$@"
