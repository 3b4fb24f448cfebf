#!/usr/bin/env bash
# `npm start`: the whole product on its embedded default (demo SQLite PAS, a local Redis, a worker
# and the facade), with the base URL, ASID and a ready-to-paste booking curl printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-prerequisites.sh
exec node --conditions=source --import tsx scripts/demo.ts "$@"
