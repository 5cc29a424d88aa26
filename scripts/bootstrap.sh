#!/usr/bin/env bash
# Make this checkout runnable on a fresh Debian/Ubuntu machine: Python venv with the project installed,
# PostgreSQL + PostGIS server packages (unless WLHY_DATABASE_URL points at an existing server).
# Idempotent and quick on re-runs: apt only when something is missing, pip only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# --browser: also Debian's chromium + chromium-driver (and CJK fonts) for the dashboard's browser tests.
BROWSER=0
for arg in "$@"; do
  case "$arg" in
    --browser) BROWSER=1 ;;
    *) echo "bootstrap: unknown option $arg (known: --browser)" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }

SUDO=""
need_root() {
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; return 0; fi
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo"; return 0; fi
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; return 0; fi   # sudo will prompt
  echo "bootstrap: '$1' must be installed with apt-get, but this user is not root and sudo is not available." >&2
  echo "bootstrap: install it yourself (apt-get install $1) or set WLHY_DATABASE_URL to an existing PostGIS server." >&2
  exit 3
}

APT_UPDATED=0
apt_install() {
  need_root "$*"
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: apt-get not found; install $* with your package manager (Debian/Ubuntu expected)." >&2
    exit 3
  fi
  if [ "$APT_UPDATED" -eq 0 ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

# 1. Python >= 3.11 with venv
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "bootstrap: Python >= 3.11 is required (found: $("$PY" --version 2>&1))." >&2; exit 3
fi
if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
  say "installing python3-venv"
  apt_install python3-venv python3-dev
fi

# 2. PostgreSQL + PostGIS (server binaries for the private cluster under var/)
if [ -z "${WLHY_DATABASE_URL:-}" ]; then
  pgver=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1 || true)
  if [ -z "$pgver" ] || [ ! -x "/usr/lib/postgresql/$pgver/bin/initdb" ]; then
    say "installing PostgreSQL"
    apt_install postgresql postgresql-contrib
    pgver=$(ls /usr/lib/postgresql | sort -n | tail -1)
  fi
  if [ ! -f "/usr/share/postgresql/$pgver/extension/postgis.control" ]; then
    say "installing PostGIS for PostgreSQL $pgver"
    apt_install "postgresql-$pgver-postgis-3"
  fi
fi

# 2b. headless Chromium for tests/dashboard (as root in CI it runs with --no-sandbox --headless=new)
if [ "$BROWSER" -eq 1 ]; then
  # Mesa's EGL + llvmpipe: Chromium's WebGL through ANGLE on llvmpipe, a fifth of SwiftShader's CPU per frame
  # (bench/dashboard.py --gl); tests/dashboard/conftest.py uses it by default.
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 \
     || [ ! -d /usr/share/fonts/opentype/noto ] || ! ls /usr/lib/*/libEGL_mesa.so.0 >/dev/null 2>&1; then
    say "installing chromium, chromium-driver, CJK fonts and Mesa EGL (browser tests)"
    apt_install chromium chromium-driver fonts-noto-cjk libegl-mesa0 libgl1-mesa-dri
  fi
fi

# 3. venv + project (re-installed only when pyproject.toml changes)
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.wlhy-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing Python dependencies (first run takes about a minute)"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test]'
  echo "$want" > "$stamp"
fi
say "ready"
