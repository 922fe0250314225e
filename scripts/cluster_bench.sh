#!/usr/bin/env bash
# Scale-out benchmark, in one run on this machine:
#   1. download-batch requests/s (100 objects per batch, 16 concurrent) through NGINX with 1, 2
#      and 3 release strata replicas on one PostgreSQL and an S3 server (s3s-fs), --refs sql;
#   2. the same against one strata on PostgreSQL and one on SQLite, without NGINX;
#   3. how long a replica takes to drain (SIGTERM to exit) with a 1 GiB upload in flight, and
#      whether that upload completed.
# Needs PostgreSQL's binaries (Debian: postgresql), nginx and curl. CLUSTER_SECONDS (default 10)
# sets each throughput run's length.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${CLUSTER_SECONDS:-10}
work=$(mktemp -d /tmp/strata-cluster-bench.XXXXXX)
chmod 755 "$work"
pids=()
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_pg=()
[ "$(id -u)" = 0 ] && { chown postgres "$work"; as_pg=(runuser -u postgres --); }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "building strata (release)" >&2
cargo build -q --release --bin strata --features bench --example lfs_bench --example s3_server
strata=${CARGO_TARGET_DIR:-$root/target}/release/strata
bench=${CARGO_TARGET_DIR:-$root/target}/release/examples/lfs_bench

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 300); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/readyz")" = 200 ] && return 0; sleep 0.1; done; echo "$1 did not get ready" >&2; exit 1; }

"${as_pg[@]}" "$pgbin/initdb" -D "$work/pg" -A trust -U postgres >/dev/null
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/pg" -o "-k $work -c listen_addresses='' -c max_connections=200" -l "$work/pg.log" start >/dev/null
pg="postgres://postgres@localhost/postgres?host=$work"

"${CARGO_TARGET_DIR:-$root/target}/release/examples/s3_server" > "$work/s3.endpoint" & pids+=($!)
for _ in $(seq 100); do [ -s "$work/s3.endpoint" ] && break; sleep 0.1; done
s3=$(head -n 1 "$work/s3.endpoint")

nport=$(free_port)
url=http://127.0.0.1:$nport
signing="k1=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
mkdir -p "$work/repos"
common_env=(STRATA_PUBLIC_URL="$url" STRATA_REPOS_DIR="$work/repos" STRATA_JWT_KEY_FILE="$work/jwt.pem"
  STRATA_URL_SIGNING_KEYS="$signing" STRATA_REFS=sql STRATA_STORAGE=s3 STRATA_BUCKET=strata-test
  STRATA_S3_ENDPOINT="$s3" STRATA_S3_PATH_STYLE=true STRATA_S3_ACCESS_KEY_ID=AKIASTRATATEST
  STRATA_S3_SECRET_ACCESS_KEY=strata-test-secret-key-0123456789 STRATA_LOG=warn)
ports=()
start_replica() { # index
  local port; port=$(free_port); ports[$1]=$port
  env "${common_env[@]}" STRATA_DATABASE_URL="$pg" STRATA_DATA_DIR="$work/replica-$1" \
    STRATA_LISTEN="127.0.0.1:$port" "$strata" serve 2>"$work/replica-$1.log" & pids+=($!)
  wait_ready "http://127.0.0.1:$port"
}
nginx_with() { # number of upstreams
  local servers="" i
  for i in $(seq 0 $(($1 - 1))); do servers+="server 127.0.0.1:${ports[$i]};"; done
  local user=""; [ "$(id -u)" = 0 ] && user="user root;"
  cat > "$work/nginx.conf" <<NGINX
$user
pid $work/nginx.pid; error_log $work/nginx.log warn; worker_processes 1;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path $work/nb; proxy_temp_path $work/np; fastcgi_temp_path $work/nf;
  uwsgi_temp_path $work/nu; scgi_temp_path $work/ns;
  upstream strata { $servers keepalive 64; }
  server { listen 127.0.0.1:$nport; client_max_body_size 0; proxy_request_buffering off;
    location / { proxy_pass http://strata; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host \$http_host; } } }
NGINX
  if [ -f "$work/nginx.pid" ]; then /usr/sbin/nginx -c "$work/nginx.conf" -p "$work" -s reload; sleep 1
  else /usr/sbin/nginx -c "$work/nginx.conf" -p "$work"; fi
}

echo "1/3 batch throughput through NGINX with 1, 2 and 3 replicas on PostgreSQL + S3, ${seconds}s each" >&2
for i in 0 1 2; do start_replica "$i"; done
env "${common_env[@]}" STRATA_DATABASE_URL="$pg" STRATA_DATA_DIR="$work/replica-0" "$strata" admin create-user bench >/dev/null
env "${common_env[@]}" STRATA_DATABASE_URL="$pg" STRATA_DATA_DIR="$work/replica-0" "$strata" admin create-repo bench/data >/dev/null
token=$(env "${common_env[@]}" STRATA_DATABASE_URL="$pg" STRATA_DATA_DIR="$work/replica-0" "$strata" admin token --user bench 2>/dev/null)
nginx_with 1
lfs=$url/bench/data.git/info/lfs/objects/batch
"$bench" seed "$lfs" 100 "bench:$token"
declare -A rps
for n in 1 2 3; do
  nginx_with "$n"
  "$bench" batch "$lfs" 100 16 2 "bench:$token" >/dev/null
  read -r r p50 p99 < <("$bench" batch "$lfs" 100 16 "$seconds" "bench:$token")
  rps[$n]="$r $p50 $p99"
done

echo "2/3 one strata on PostgreSQL beside one on SQLite (no NGINX)" >&2
read -r pg_r pg_p50 pg_p99 < <("$bench" batch "http://127.0.0.1:${ports[0]}/bench/data.git/info/lfs/objects/batch" 100 16 "$seconds" "bench:$token")
lport=$(free_port)
STRATA_DATA_DIR="$work/sqlite" STRATA_LISTEN="127.0.0.1:$lport" STRATA_STORAGE=s3 STRATA_BUCKET=strata-test \
  STRATA_S3_ENDPOINT="$s3" STRATA_S3_PATH_STYLE=true STRATA_S3_ACCESS_KEY_ID=AKIASTRATATEST \
  STRATA_S3_SECRET_ACCESS_KEY=strata-test-secret-key-0123456789 STRATA_STORAGE_PREFIX=sqlite STRATA_LOG=warn \
  "$strata" serve 2>"$work/sqlite.log" & pids+=($!)
wait_ready "http://127.0.0.1:$lport"
STRATA_DATA_DIR="$work/sqlite" "$strata" admin create-user bench >/dev/null
STRATA_DATA_DIR="$work/sqlite" "$strata" admin create-repo bench/data >/dev/null
ltoken=$(STRATA_DATA_DIR="$work/sqlite" "$strata" admin token --user bench 2>/dev/null)
llfs=http://127.0.0.1:$lport/bench/data.git/info/lfs/objects/batch
"$bench" seed "$llfs" 100 "bench:$ltoken"
"$bench" batch "$llfs" 100 16 2 "bench:$ltoken" >/dev/null
read -r sq_r sq_p50 sq_p99 < <("$bench" batch "$llfs" 100 16 "$seconds" "bench:$ltoken")

echo "3/3 draining a replica with a 1 GiB upload in flight" >&2
dport=$(free_port)
STRATA_DATA_DIR="$work/drain" STRATA_LISTEN="127.0.0.1:$dport" STRATA_SHUTDOWN_GRACE_SECS=120 STRATA_LOG=warn \
  "$strata" serve 2>"$work/drain.log" & dpid=$!; pids+=($dpid)
wait_ready "http://127.0.0.1:$dport"
STRATA_DATA_DIR="$work/drain" "$strata" admin create-user bench >/dev/null
STRATA_DATA_DIR="$work/drain" "$strata" admin create-repo bench/data >/dev/null
dtoken=$(STRATA_DATA_DIR="$work/drain" "$strata" admin token --user bench 2>/dev/null)
head -c 1G /dev/urandom > "$work/big.bin"
doid=$(sha256sum "$work/big.bin" | cut -d' ' -f1)
href=$(curl -s -u "bench:$dtoken" -H "Content-Type: application/vnd.git-lfs+json" \
  -d "{\"operation\":\"upload\",\"objects\":[{\"oid\":\"$doid\",\"size\":1073741824}]}" \
  "http://127.0.0.1:$dport/bench/data.git/info/lfs/objects/batch" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["objects"][0]["actions"]["upload"]["href"])')
# 200 MiB/s: the upload takes about 5 s, and is half-way when the replica is told to stop.
curl -s -o /dev/null -w '%{http_code}' --limit-rate 200M -T "$work/big.bin" "$href" > "$work/upload.code" & cpid=$!
sleep 2.5
t0=$(date +%s.%N)
kill -TERM "$dpid"
wait "$dpid" || true
t1=$(date +%s.%N)
wait "$cpid" || true
drain=$(printf "%.2f" "$(echo "$t1 - $t0" | bc)")
upload_code=$(cat "$work/upload.code")

ratio() { echo "scale=2; $1 / $2" | bc; }
set -- ${rps[1]}; r1=$1 l1="$2 / $3"
set -- ${rps[2]}; r2=$1 l2="$2 / $3"
set -- ${rps[3]}; r3=$1 l3="$2 / $3"
cat <<TABLE

Measured $(date -u +%Y-%m-%d) on $(nproc) cores, $(git rev-parse --short HEAD), with \`scripts/cluster_bench.sh\` (${seconds}s per run; every process on this one machine).

| download batches of 100 objects, 16 concurrent | requests/s | median / p99 (ms) | vs 1 replica |
|---|---|---|---|
| NGINX + 1 replica (PostgreSQL, S3, --refs sql) | $r1 | $l1 | 1.00x |
| NGINX + 2 replicas | $r2 | $l2 | $(ratio "$r2" "$r1")x |
| NGINX + 3 replicas | $r3 | $l3 | $(ratio "$r3" "$r1")x |
| one strata on PostgreSQL, no NGINX | $pg_r | $pg_p50 / $pg_p99 | |
| one strata on SQLite, no NGINX | $sq_r | $sq_p50 / $sq_p99 | PostgreSQL / SQLite: $(ratio "$pg_r" "$sq_r")x |

Draining a replica (SIGTERM to exit) with a 1 GiB upload in flight at 200 MiB/s: ${drain} s; the upload answered $upload_code.
TABLE
