#!/usr/bin/env bash
# Native 1 MiB GET against memcached (issue 16, item 4), side by side: per
# round each target once, in an order rotated each round, `stratacache bench
# net -sizes 1MiB -ops get -c 4` for DURATION; with perf(1) installed, the
# server's CPU time, context switches and read calls are counted over 2 s
# inside the timed phase (after the preload) and divided by its reply writes
# (writev/sendmsg/write calls: one per GET here), and the bench client's too.
#
#   ROUNDS=5 node/scripts/bench-get1m.sh            # from the repository root
#   STRATACACHE_BIN=/tmp/new BASE_BIN=/tmp/old node/scripts/bench-get1m.sh
#
# Installs memcached from Debian when missing. SIZE changes the value size.
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
SIZE=${SIZE:-1MiB}
CONC=${CONC:-4}
source "$(dirname "$0")/lib.sh"
install_missing memcached:memcached

names=(memcached) targets=("-memcached 127.0.0.1:21611")
memcached -p 21611 -U 0 -I 32m -m 4096 -u "$(id -un)" -l 127.0.0.1 >"$work/memcached.log" 2>&1 &
pids+=($!)
spids=($!)
start_node() { # name binary native-port
	STRATACACHE_DISK_CAPACITY_MB=0 "$2" serve -cpu-capacity-mb 2048 -resp-addr "127.0.0.1:$(($3 - 1000))" \
		-native-addr "127.0.0.1:$3" -admin-addr "" >/dev/null 2>"$work/$1.log" &
	pids+=($!)
	spids+=($!)
	names+=("$1")
	targets+=("-native 127.0.0.1:$3")
}
start_node native "$bin" 27611
[ -z "${BASE_BIN:-}" ] || start_node base-native "$BASE_BIN" 27612
for t in "${targets[@]}"; do
	port=${t##*:}
	for _ in $(seq 300); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
done
perf=$(command -v perf || true)
counts() { # pid file: perf stat counters of pid over 2 s
	"$perf" stat -x, -e task-clock,context-switches,syscalls:sys_enter_read,syscalls:sys_enter_writev,syscalls:sys_enter_sendmsg,syscalls:sys_enter_write \
		-p "$1" -- sleep 2 2>"$2" >/dev/null || true
}
n=${#names[@]}
for r in $(seq "$ROUNDS"); do
	echo "# round $r $(date -u +%FT%TZ) load average: $(cut -d' ' -f1-3 /proc/loadavg)"
	for k in $(seq 0 $((n - 1))); do
		j=$(((k + r) % n))
		"$bin" bench net ${targets[$j]} -sizes "$SIZE" -ops get -c "$CONC" -duration "$DURATION" >"$work/raw.json" &
		bp=$!
		if [ -n "$perf" ]; then
			sleep "${PERF_DELAY:-2.5}" # past the preload
			counts "$bp" "$work/client.txt" &
			cp=$!
			counts "${spids[$j]}" "$work/server.txt"
			wait "$cp" || true
		fi
		wait "$bp"
		sed "s/\"target\":\"[a-z-]*\"/\"target\":\"${names[$j]}\"/" "$work/raw.json" >"$work/out.json"
		if [ -n "$perf" ]; then
			awk -F, -v out="$(cat "$work/out.json")" '
				FNR == 1 { f++ }
				{ v[f, $3] = $1 }
				END {
					w = v[1, "syscalls:sys_enter_writev"] + v[1, "syscalls:sys_enter_sendmsg"] + v[1, "syscalls:sys_enter_write"]
					if (w == 0) { print out; exit }
					sub(/}$/, "", out)
					printf "%s,\"replies_2s\":%d,\"server_cpu_us_per_reply\":%.0f,\"server_cs_per_reply\":%.2f,\"server_reads_per_reply\":%.2f,\"client_cpu_us_per_reply\":%.0f,\"client_cs_per_reply\":%.2f}\n",
						out, w, v[1, "task-clock"] * 1000 / w, v[1, "context-switches"] / w, v[1, "syscalls:sys_enter_read"] / w,
						v[2, "task-clock"] * 1000 / w, v[2, "context-switches"] / w
				}' "$work/server.txt" "$work/client.txt"
		else
			cat "$work/out.json"
		fi
	done
done
echo "# $(date -u +%FT%TZ) load average: $(cut -d' ' -f1-3 /proc/loadavg)"
