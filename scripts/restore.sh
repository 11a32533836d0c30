#!/usr/bin/env bash
# Restore a dump made by scripts/backup.sh into a NEW, EMPTY database, then check its ledger.
#   DATABASE_URL=postgres://…/bnpl_restored scripts/restore.sh <dump file>
# It refuses a database that already has tables (it never restores over live data), restores in one
# transaction (all or nothing), then runs `manage.py ledger_verify` against the restored database.
# Point the application at it only after that passes. See docs/operations.md, "Backups and restore".
# Behind a transaction pooler, set DATABASE_DIRECT_URL to the same database on PostgreSQL itself:
# pg_restore sets session state (an empty search_path) that a pooler would hand to the next client.
set -euo pipefail
dump="${1:?usage: DATABASE_URL=<new empty database> scripts/restore.sh <dump file>}"
url="${DATABASE_DIRECT_URL:-${DATABASE_URL:?DATABASE_URL names the new, empty database to restore into}}"
python="${PYTHON:-$(dirname "$0")/../.venv/bin/python}"
tables=$(psql "$url" -tA -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
if [ "$tables" != "0" ]; then
    echo "refusing: the target database already has $tables tables; restore into a new, empty database" >&2
    exit 1
fi
pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$url" "$dump"
"$python" "$(dirname "$0")/../manage.py" ledger_verify
echo "restored into the new database and the ledger balances"
