#!/usr/bin/env bash
# `npm test`: every test, against a real Redis (started by the test run), real worker and facade
# processes and a real SQLite PAS. SQL Server contract tests run when PAS_MSSQL_URL is set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-prerequisites.sh --browser
exec npx vitest run "$@"
