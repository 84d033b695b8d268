#!/usr/bin/env bash
# Runs the test suite (sets itself up on first use). PostgreSQL tests run when TEST_DATABASE_URL
# points at a reachable server and are skipped otherwise. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
source ./setup-env.sh "test"
exec .venv/bin/python -m pytest "$@"
