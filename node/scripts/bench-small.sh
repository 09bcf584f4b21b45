#!/usr/bin/env bash
# Small requests (4 KiB SET/GET) of a StrataCache node against redis-server,
# side by side in one run, interleaved per case (issue 16): requests/s and
# the server's CPU per request (utime+stime from /proc, so a loaded machine
# skews it less than the rate). RESP rows use redis-benchmark against both;
# native rows use `stratacache bench net` (-native against the node,
# -redis against redis-server, same harness). BASE_BIN adds a second build
# of the node (another commit) as a third target.
#
#   ROUNDS=3 node/scripts/bench-small.sh             # from the repository root
#   STRATACACHE_BIN=/tmp/new BASE_BIN=/tmp/old node/scripts/bench-small.sh
#
# Installs redis-server and redis-tools from Debian when missing. Client and
# servers share the machine's cores: note its load average with the figures.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
N=${N:-30000}          # redis-benchmark requests per pipeline-1 case (x4 at -P 16)
DURATION=${DURATION:-2s}
CONCS=${CONCS:-"4 50"}
PIPES=${PIPES:-"1 16"}
source "$(dirname "$0")/lib.sh"
install_missing redis-server:redis-server redis-benchmark:redis-tools

redis-server --port 26490 --save "" --appendonly no --daemonize no >"$work/redis.log" 2>&1 &
redis_pid=$!
pids+=($redis_pid)
STRATACACHE_DISK_CAPACITY_MB=0 "$bin" serve -cpu-capacity-mb 1024 -resp-addr 127.0.0.1:26480 \
	-native-addr 127.0.0.1:27480 -admin-addr "" >/dev/null 2>"$work/node.log" &
node_pid=$!
pids+=($node_pid)
names=(node redis) resp=(26480 26490) native=(27480 "") spids=($node_pid $redis_pid)
if [ -n "${BASE_BIN:-}" ]; then
	STRATACACHE_DISK_CAPACITY_MB=0 "$BASE_BIN" serve -cpu-capacity-mb 1024 -resp-addr 127.0.0.1:26481 \
		-native-addr 127.0.0.1:27481 -admin-addr "" >/dev/null 2>"$work/base.log" &
	base_pid=$!
	pids+=($base_pid)
	names+=(base) resp+=(26481) native+=(27481) spids+=($base_pid)
fi
for port in "${resp[@]}" "${native[@]}"; do
	[ -n "$port" ] || continue
	for _ in $(seq 300); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
done
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)

echo "# $(date -u +%FT%TZ) load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# proto round c P op target req_per_s server_cpu_us_per_req load1"
for r in $(seq "$ROUNDS"); do
	for c in $CONCS; do
		for P in $PIPES; do
			n=$N
			[ "$P" = 1 ] || n=$((N * 4))
			for op in set get; do
				for i in "${!names[@]}"; do
					t0=$(ticks "${spids[$i]}")
					rps=$(redis-benchmark -p "${resp[$i]}" -t "$op" -d 4096 -c "$c" -P "$P" -n "$n" -r 1000 --csv -q |
						grep -v '^"test"' | cut -d, -f2 | tr -d '"')
					t1=$(ticks "${spids[$i]}")
					echo "resp $r $c $P $op ${names[$i]} $rps $(awk -v a="$t0" -v b="$t1" -v n="$n" -v k="$tck" 'BEGIN{printf "%.2f", (b-a)/k*1e6/n}') $(cut -d' ' -f1 /proc/loadavg)"
				done
				for i in "${!names[@]}"; do
					if [ "${names[$i]}" = redis ]; then target=(-redis "127.0.0.1:${resp[$i]}"); else target=(-native "127.0.0.1:${native[$i]}"); fi
					t0=$(ticks "${spids[$i]}")
					line=$("$bin" bench net "${target[@]}" -sizes 4KiB -ops "$op" -c "$c" -P "$P" -duration "$DURATION")
					t1=$(ticks "${spids[$i]}")
					ops=$(echo "$line" | sed -E 's/.*"ops":([0-9]+).*/\1/')
					rps=$(echo "$line" | sed -E 's/.*"ops_per_s":([0-9.]+).*/\1/')
					echo "native $r $c $P $op ${names[$i]} $rps $(awk -v a="$t0" -v b="$t1" -v n="$ops" -v k="$tck" 'BEGIN{printf "%.2f", (b-a)/k*1e6/n}') $(cut -d' ' -f1 /proc/loadavg)"
				done
			done
		done
	done
done
echo "# $(date -u +%FT%TZ) load average: $(cut -d' ' -f1-3 /proc/loadavg)"
