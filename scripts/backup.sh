#!/usr/bin/env bash
# Back up the database: a compressed custom-format dump (pg_dump -Fc) that pg_restore reads.
#   scripts/backup.sh <output file>            (the database is DATABASE_URL's)
# Behind a transaction pooler, set DATABASE_DIRECT_URL to the same database on PostgreSQL itself:
# pg_dump sets session state (search_path among it) that a pooler would hand to the next client.
# It writes to a temporary name and renames when pg_restore can read the whole dump back, so a
# half-written file never looks like a backup. See docs/operations.md, "Backups and restore".
set -euo pipefail
out="${1:?usage: scripts/backup.sh <output file>}"
url="${DATABASE_DIRECT_URL:-${DATABASE_URL:?DATABASE_URL names the database to back up}}"
tmp="${out}.partial"
pg_dump --format=custom --compress=6 --no-owner --no-privileges --dbname="$url" --file="$tmp"
pg_restore --list "$tmp" >/dev/null  # the dump is complete and readable
mv "$tmp" "$out"
echo "backup written: $out ($(stat -c %s "$out") bytes)"
