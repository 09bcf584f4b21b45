#!/usr/bin/env bash
# Compare a StrataCache node with redis-server and memcached on this machine,
# same client (stratacache bench net), same machine, one run each. Prints JSON
# lines (bench net) and CSV (redis-benchmark). docs/node.md records a run.
#
#   node/scripts/bench-compare.sh            # from the repository root
#   DURATION=5s CONC=4 node/scripts/bench-compare.sh
#
# Installs redis-server, redis-tools and memcached from Debian when missing.
set -euo pipefail

DURATION=${DURATION:-3s}
CONC=${CONC:-4}
RESP_PORT=${RESP_PORT:-6380}
NATIVE_PORT=${NATIVE_PORT:-7380}
REDIS_PORT=${REDIS_PORT:-6390}
MEMCACHED_PORT=${MEMCACHED_PORT:-11311}
source "$(dirname "$0")/lib.sh"
install_missing redis-server:redis-server redis-benchmark:redis-tools memcached:memcached

redis-server --port "$REDIS_PORT" --save "" --appendonly no --daemonize no >"$work/redis.log" 2>&1 &
pids+=($!)
# -I 32m: memcached refuses items over 1 MiB by default.
memcached -p "$MEMCACHED_PORT" -U 0 -I 32m -m 4096 -u "$(id -un)" >"$work/memcached.log" 2>&1 &
pids+=($!)
# Memory against memory: no disk tier under the CPU tier for this comparison.
STRATACACHE_DISK_CAPACITY_MB=0 "$bin" serve -cpu-capacity-mb 4096 -resp-addr "127.0.0.1:$RESP_PORT" -native-addr "127.0.0.1:$NATIVE_PORT" \
	-admin-addr "" >"$work/serve.out" 2>"$work/serve.log" &
pids+=($!)
for port in "$REDIS_PORT" "$MEMCACHED_PORT" "$RESP_PORT" "$NATIVE_PORT"; do
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
done

echo "# $(date -u +%FT%TZ) load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# RESP port vs redis-server vs raw loopback TCP, large values, concurrency $CONC"
"$bin" bench net -raw-tcp -resp "127.0.0.1:$RESP_PORT" -redis "127.0.0.1:$REDIS_PORT" \
	-sizes 4MiB,16MiB -c "$CONC" -duration "$DURATION"
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# native port vs memcached vs raw loopback TCP, concurrency $CONC"
"$bin" bench net -raw-tcp -native "127.0.0.1:$NATIVE_PORT" -memcached "127.0.0.1:$MEMCACHED_PORT" \
	-sizes 1MiB,4MiB,16MiB -c "$CONC" -duration "$DURATION"
for c in 4 16; do
	for port in "$RESP_PORT" "$REDIS_PORT"; do
		echo "# redis-benchmark 4 KiB, -c $c, port $port"
		redis-benchmark -p "$port" -t set,get -d 4096 -c "$c" -n 200000 --csv
	done
done
echo "# $(date -u +%FT%TZ) load average: $(cut -d' ' -f1-3 /proc/loadavg)"
