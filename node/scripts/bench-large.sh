#!/usr/bin/env bash
# Large values (1/4/16 MiB) of a StrataCache node against memcached (native
# port), redis-server (RESP port) and raw loopback TCP, with `stratacache
# bench net` (one harness, minimal clients), rounds interleaved; BASE_BIN adds
# a second build of the node (another commit) to check for regressions.
#
#   ROUNDS=3 node/scripts/bench-large.sh            # from the repository root
#   STRATACACHE_BIN=/tmp/new BASE_BIN=/tmp/old node/scripts/bench-large.sh
#
# Installs redis-server and memcached from Debian when missing.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-2s}
CONC=${CONC:-4}
SIZES=${SIZES:-1MiB,4MiB,16MiB}
source "$(dirname "$0")/lib.sh"
install_missing redis-server:redis-server memcached:memcached

redis-server --port 26590 --save "" --appendonly no --daemonize no >"$work/redis.log" 2>&1 &
pids+=($!)
# -I 32m: memcached refuses items over 1 MiB by default.
memcached -p 21511 -U 0 -I 32m -m 4096 -u "$(id -un)" >"$work/memcached.log" 2>&1 &
pids+=($!)
STRATACACHE_DISK_CAPACITY_MB=0 "$bin" serve -cpu-capacity-mb 2048 -resp-addr 127.0.0.1:26580 \
	-native-addr 127.0.0.1:27580 -admin-addr "" >/dev/null 2>"$work/node.log" &
pids+=($!)
ports=(26590 21511 26580 27580)
if [ -n "${BASE_BIN:-}" ]; then
	STRATACACHE_DISK_CAPACITY_MB=0 "$BASE_BIN" serve -cpu-capacity-mb 2048 -resp-addr 127.0.0.1:26581 \
		-native-addr 127.0.0.1:27581 -admin-addr "" >/dev/null 2>"$work/base.log" &
	pids+=($!)
	ports+=(26581 27581)
fi
for port in "${ports[@]}"; do
	for _ in $(seq 300); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
done
b() { "$bin" bench net -sizes "$SIZES" -c "$CONC" -duration "$DURATION" "$@"; }
for r in $(seq "$ROUNDS"); do
	echo "# round $r $(date -u +%FT%TZ) load average: $(cut -d' ' -f1-3 /proc/loadavg)"
	b -raw-tcp -native 127.0.0.1:27580 -memcached 127.0.0.1:21511
	b -resp 127.0.0.1:26580 -redis 127.0.0.1:26590
	if [ -n "${BASE_BIN:-}" ]; then
		b -native 127.0.0.1:27581 | sed 's/"target":"native"/"target":"base-native"/'
		b -resp 127.0.0.1:26581 | sed 's/"target":"resp"/"target":"base-resp"/'
	fi
done
echo "# $(date -u +%FT%TZ) load average: $(cut -d' ' -f1-3 /proc/loadavg)"
