#!/usr/bin/env bash
# A throwaway PostgreSQL (Debian's, installed by scripts/setup.sh) for the demo and the hub's
# tests: `pg-local.sh start DIR PORT [CERT KEY]` creates a cluster in DIR if there is none (user
# `aisle`, trust on loopback only) and starts it on 127.0.0.1:PORT, without fsync (a throwaway
# cluster); with CERT and KEY it serves TLS with them and refuses connections without TLS.
# `pg-local.sh stop DIR`.
# PostgreSQL refuses to run as root, so under root it runs as the `postgres` user.
set -euo pipefail
cmd=$1 dir=$(realpath -m "$2")
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case $cmd in
  start)
    port=$3
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_pg "$bin/initdb" -A trust -U aisle --no-sync -E UTF8 -D "$dir/data" >/dev/null
    fi
    tls=""
    if [ $# -ge 5 ]; then
      install -m 600 "$4" "$dir/server.crt"
      install -m 600 "$5" "$dir/server.key"
      [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/server.crt" "$dir/server.key"
      printf 'local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n' > "$dir/data/pg_hba.conf"
      [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/data/pg_hba.conf"
      tls="-c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key"
    fi
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off $tls" start >/dev/null
    echo "host=127.0.0.1 port=$port user=aisle dbname=postgres"
    ;;
  stop)
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    ;;
  *) echo "usage: pg-local.sh start DIR PORT [CERT KEY] | stop DIR" >&2; exit 2 ;;
esac
