#!/usr/bin/env bash
# Run a command with the project's database reached through PgBouncer in transaction pooling mode:
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/bnpl scripts/with_pgbouncer.sh make test
# It starts a private PgBouncer (Debian's `pgbouncer`) on PGBOUNCER_PORT (6439) in front of
# DATABASE_URL's server, then runs the command with DATABASE_URL pointing at the pooler,
# DATABASE_TRANSACTION_POOLING=true (what every process behind such a pooler sets) and
# DATABASE_DIRECT_URL the original address (for pg_dump and pg_restore, which must go around it), and
# stops the pooler afterwards. `make test-pooled` runs the whole suite this way; docs/scaling.md.
set -euo pipefail
url="${DATABASE_URL:?DATABASE_URL names the PostgreSQL database to put PgBouncer in front of}"
case "$url" in postgres://* | postgresql://*) ;; *) echo "DATABASE_URL is not PostgreSQL: $url" >&2; exit 2 ;; esac
binary="$(command -v pgbouncer || echo /usr/sbin/pgbouncer)"
[ -x "$binary" ] || { echo "pgbouncer is not installed (apt-get install pgbouncer)" >&2; exit 2; }
port="${PGBOUNCER_PORT:-6439}"

# postgres://user[:password]@host:port/name -> its parts (the project's URLs have no query string).
rest="${url#*://}"
credentials="${rest%%@*}"
user="${credentials%%:*}"
address="${rest#*@}"
hostport="${address%%/*}"
name="${address#*/}"
host="${hostport%%:*}"
upstream_port="${hostport##*:}"
[ "$upstream_port" = "$hostport" ] && upstream_port=5432

folder="$(mktemp -d /tmp/bnpl-pgbouncer.XXXXXX)"
printf '"%s" ""\n' "$user" >"$folder/users.txt"
cat >"$folder/pgbouncer.ini" <<EOF
[databases]
* = host=$host port=$upstream_port
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $folder
pidfile = $folder/pgbouncer.pid
logfile = $folder/pgbouncer.log
auth_type = trust
auth_file = $folder/users.txt
admin_users = $user
pool_mode = transaction
default_pool_size = 20
max_client_conn = 500
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
EOF
as=()
if [ "$(id -u)" = 0 ]; then  # PgBouncer refuses to run as root
    chown -R postgres "$folder"
    as=(runuser -u postgres --)
fi
"${as[@]}" "$binary" -d "$folder/pgbouncer.ini"
stop() {
    kill "$(cat "$folder/pgbouncer.pid" 2>/dev/null)" 2>/dev/null || true
    rm -rf "$folder"
}
trap stop EXIT
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

export DATABASE_DIRECT_URL="$url"
export DATABASE_URL="${url%%://*}://${credentials}@127.0.0.1:${port}/${name}"
export DATABASE_TRANSACTION_POOLING=true
echo "through PgBouncer (transaction pooling) on 127.0.0.1:$port in front of $host:$upstream_port"
"$@"
