# Sourced by the bench scripts (from the repository root): a work directory
# removed at exit together with the servers the script started (it appends
# their pids to pids), Debian packages installed when a command is missing,
# and the node binary ($STRATACACHE_BIN, or built into the work directory).

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

# install_missing CMD:PACKAGE ... installs each PACKAGE whose CMD is missing.
install_missing() {
	local need=() pair sudo=""
	for pair in "$@"; do
		command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
	done
	if ((${#need[@]})); then
		[ "$(id -u)" = 0 ] || sudo=sudo
		$sudo apt-get install -y "${need[@]}"
	fi
}

bin=${STRATACACHE_BIN:-$work/stratacache}
[ -n "${STRATACACHE_BIN:-}" ] || go build -o "$bin" ./cmd/stratacache
