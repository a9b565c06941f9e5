# Shared helpers for PerfLab's scripts. Source it; do not run it.
# - perflab_ensure_built: builds the two programs (Release) once, and again only when a
#   source file is newer than the binaries. PERFLAB_BACKEND_BIN and PERFLAB_LOADGEN_BIN, when
#   both set in the environment, name binaries to use as they are (the tests pass theirs).
# - perflab_spawn / perflab_stop_all: start background processes and stop them by PID when
#   the script ends, fails or times out (trap installed by perflab_trap).

PERFLAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PERFLAB_PREBUILT=0
if [[ -n ${PERFLAB_BACKEND_BIN:-} && -n ${PERFLAB_LOADGEN_BIN:-} ]]; then PERFLAB_PREBUILT=1; fi
PERFLAB_BACKEND_BIN=${PERFLAB_BACKEND_BIN:-$PERFLAB_ROOT/backend/PerfLab.Backend.Cli/bin/Release/net10.0/perflab-backend}
PERFLAB_LOADGEN_BIN=${PERFLAB_LOADGEN_BIN:-$PERFLAB_ROOT/loadgen/PerfLab.LoadGen.Cli/bin/Release/net10.0/perflab-loadgen}
PERFLAB_PIDS=()

perflab_log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

perflab_sources_newer_than() {
    find "$PERFLAB_ROOT/backend" "$PERFLAB_ROOT/loadgen" "$PERFLAB_ROOT/Directory.Build.props" \
         "$PERFLAB_ROOT/Directory.Packages.props" \
         \( -path '*/bin' -o -path '*/obj' \) -prune -o \
         \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' \) -newer "$1" -print 2>/dev/null | head -n 1
}

perflab_ensure_built() {
    local need=0
    ((PERFLAB_PREBUILT)) && return 0
    [[ -x $PERFLAB_BACKEND_BIN && -x $PERFLAB_LOADGEN_BIN ]] || need=1
    if (( need == 0 )) && [[ -n $(perflab_sources_newer_than "$PERFLAB_BACKEND_BIN") ]]; then need=1; fi
    if (( need == 0 )) && [[ -n $(perflab_sources_newer_than "$PERFLAB_LOADGEN_BIN") ]]; then need=1; fi
    if (( need )); then
        perflab_log "building perflab-backend and perflab-loadgen (Release)"
        dotnet build "$PERFLAB_ROOT/backend/PerfLab.Backend.Cli/PerfLab.Backend.Cli.csproj" -c Release -nologo -v q >&2
        dotnet build "$PERFLAB_ROOT/loadgen/PerfLab.LoadGen.Cli/PerfLab.LoadGen.Cli.csproj" -c Release -nologo -v q >&2
        touch "$PERFLAB_BACKEND_BIN" "$PERFLAB_LOADGEN_BIN"
    fi
}

# perflab_spawn LOGFILE CMD...: starts CMD in the background, remembers its PID in PERFLAB_LAST_PID.
perflab_spawn() {
    local log=$1; shift
    "$@" >"$log" 2>&1 &
    PERFLAB_LAST_PID=$!
    PERFLAB_PIDS+=("$PERFLAB_LAST_PID")
}

# perflab_stop PID [SECONDS]: SIGTERM, wait up to SECONDS (5), then SIGKILL. SIGCONT first:
# a script interrupted during perflab_frozen_c2c leaves its point's processes stopped.
perflab_stop() {
    local pid=$1 wait_s=${2:-5} i
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < wait_s * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
}

perflab_stop_all() {
    local pid
    for pid in "${PERFLAB_PIDS[@]}"; do perflab_stop "$pid" 3; done
    PERFLAB_PIDS=()
}

perflab_trap() { trap 'perflab_stop_all' EXIT INT TERM; }

# perflab_wait_socket PATH SECONDS: waits for a UNIX socket to appear.
perflab_wait_socket() {
    local path=$1 secs=${2:-20} i
    for ((i = 0; i < secs * 10; i++)); do
        [[ -S $path ]] && return 0
        sleep 0.1
    done
    return 1
}

# One snapshot from a back-end's stats socket (--stats-socket): prints its JSON.
perflab_stats_json() { python3 - "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1]); d = b""
while True:
    c = s.recv(1 << 20)
    if not c: break
    d += c
print(d.decode())
PY
}

# perflab_stats_field STATS KEY: one top-level field of a stats snapshot.
perflab_stats_field() { perflab_stats_json "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"; }

# perflab_heap_probe PID STATS: the back-end's live managed heap in bytes, after one forced
# full GC (SIGUSR1; its stats snapshots then report live_heap_bytes and count the forced GC in
# forced_collections). Returns 1 if the probe does not show within 10 s.
perflab_heap_probe() {
    local pid=$1 stats=$2 n0 i
    n0=$(perflab_stats_field "$stats" forced_collections) || return 1
    kill -USR1 "$pid" 2>/dev/null || return 1
    for ((i = 0; i < 100; i++)); do
        if [[ $(perflab_stats_field "$stats" forced_collections) -gt $n0 ]]; then
            perflab_stats_field "$stats" live_heap_bytes
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# perflab_threads PID: the process's thread count.
perflab_threads() { awk '/^Threads:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# perflab_report ARGS...: perflab-report (built on first use, or PERFLAB_REPORT_BIN): the
# statistics every comparison script shares with the bench. "order" gives a round's visiting
# order, "record" appends a visit's figures to a journal, "summarize" prints medians with
# their intervals and per-round ratios (reports/PerfLab.Reports.Cli).
PERFLAB_REPORT_BIN=${PERFLAB_REPORT_BIN:-$PERFLAB_ROOT/reports/PerfLab.Reports.Cli/bin/Release/net10.0/perflab-report}
perflab_report() {
    if [[ ! -x $PERFLAB_REPORT_BIN ]] || [[ -n $(find "$PERFLAB_ROOT/reports" "$PERFLAB_ROOT/Directory.Packages.props" \( -path '*/bin' -o -path '*/obj' \) -prune -o \
            \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' \) -newer "$PERFLAB_REPORT_BIN" -print 2>/dev/null | head -n 1) ]]; then
        perflab_log "building perflab-report (Release)"
        dotnet build "$PERFLAB_ROOT/reports/PerfLab.Reports.Cli/PerfLab.Reports.Cli.csproj" -c Release -nologo -v q >&2 || return 1
        touch "$PERFLAB_REPORT_BIN"
    fi
    "$PERFLAB_REPORT_BIN" "$@"
}

# perflab_cref: prints the path of PerfLab's C reference (reference/cring.c: the cache-line
# round trip and a C virtqueue loopback), compiled with the system C compiler into
# scripts/.build/ the first time, and again when the source is newer.
perflab_cref() {
    local src=$PERFLAB_ROOT/reference/cring.c dir=$PERFLAB_ROOT/scripts/.build
    local bin=$dir/cring
    if [[ ! -x $bin || $src -nt $bin ]]; then
        mkdir -p "$dir" 2>/dev/null || { dir=$(mktemp -d /tmp/perflab-cref.XXXXXX); bin=$dir/cring; }
        "${CC:-cc}" -O2 -pthread -o "$bin" "$src" >&2 || return 1
    fi
    echo "$bin"
}

# Cache-line round trip CPU 0 <-> CPU 1 in ns (PerfLab's C reference), or "n/a" without a C
# compiler. The host moves the two vCPUs: ~55 ns "near", ~330 ns "far"; cross-core numbers
# move 4x with it, so scripts record it at the start of every round.
perflab_c2c() {
    local bin
    bin=$(perflab_cref 2>/dev/null) || { echo n/a; return; }
    "$bin" c2c 0.35 2>/dev/null | sed -n 's/^c2c_ns=//p' | grep . || echo n/a
}

# perflab_frozen_c2c PID...: the cache-line round trip (0.1 s) taken inside a point, with the
# point's processes stopped (SIGSTOP, then SIGCONT in reverse order), so that the probe owns
# both CPUs; prints ns, or n/a. The host moves the vCPUs within seconds, and a pair of
# pollers runs about 3x slower while they are far apart (docs/method.md, "The placement
# inside a point"): a c2c taken only at a round's start misses that.
perflab_frozen_c2c() {
    local bin ns i
    bin=$(perflab_cref 2>/dev/null) || { echo n/a; return; }
    kill -STOP "$@" 2>/dev/null || true
    ns=$("$bin" c2c 0.1 2>/dev/null | sed -n 's/^c2c_ns=//p' | grep . || echo n/a)
    for ((i = $#; i >= 1; i--)); do kill -CONT "${!i}" 2>/dev/null || true; done
    echo "$ns"
}

# perflab_point_verdict ROUND_C2C NS...: "steady" when every c2c sample taken inside a point
# falls in the class of the round's own c2c (near <= 150 ns, far >= 250, mid between: the
# classes perflab-report flags rounds by), "moved" when any does not (the point ran, at least
# in part, at another placement than the round's), "unknown" without a measured sample.
perflab_point_verdict() {
    awk 'function cls(x) { return x <= 150 ? "near" : x >= 250 ? "far" : "mid" }
         BEGIN {
             if (ARGV[1] !~ /^[0-9.]+$/ || ARGV[1] + 0 <= 0) { print "unknown"; exit }
             want = cls(ARGV[1] + 0); n = 0; moved = 0
             for (i = 2; i < ARGC; i++) {
                 if (ARGV[i] !~ /^[0-9.]+$/ || ARGV[i] + 0 <= 0) continue
                 n++; if (cls(ARGV[i] + 0) != want) moved = 1
             }
             print n == 0 ? "unknown" : moved ? "moved" : "steady"
         }' "$@"
}

# perflab_moved_points JOURNAL: lists the points recorded as mpps_moved (see
# perflab_point_verdict), after a blank line; nothing when there are none.
perflab_moved_points() {
    # The configuration may hold commas (a strategy's options), quoted in the CSV: the round is
    # the first field, the metric and value the last two, the configuration all between.
    awk -F, '$(NF-1) == "mpps_moved" {
        cfg = $0; sub(/^[^,]*,/, "", cfg); sub(/,[^,]*,[^,]*$/, "", cfg); gsub(/^"|"$/, "", cfg)
        if (!n++) print "\nPoints that ran at another placement than their round (c2c class), left out of the medians and ratios above:"
        printf "  round %s %s: %.3f Mpps\n", $1, cfg, $NF }' "$1"
}

# perflab_c2c_arg: "--c2c NS" for perflab-report record, or nothing when not measured.
perflab_c2c_arg() {
    local ns
    ns=$(perflab_c2c)
    [[ $ns == n/a ]] || echo "--c2c $ns"
}

# ---- dpdk-testpmd (one per script) --------------------------------------------------------
# DPDK without hugepages on a small machine: --no-huge -m 1024 --no-pci --no-shconf
# --no-telemetry and a unique --file-prefix; a forwarding lcore besides the main one, both on
# CPU C (--lcores '0@C,1@C', taskset -c C); --disable-link-check (else the vhost PMD spins
# ~9 s at start-up); stdbuf -oL (else the output comes at exit); interactive mode driven
# through a FIFO that testpmd opens read-write (so it never sees EOF) and that we write to
# through our own read-write descriptor (so a write never blocks, even if testpmd died).

perflab_testpmd_bin() { command -v dpdk-testpmd 2>/dev/null || { [[ -x /usr/bin/dpdk-testpmd ]] && echo /usr/bin/dpdk-testpmd; }; }

# perflab_testpmd_version: "22.11.11" from dpkg, or empty.
perflab_testpmd_version() {
    dpkg-query -W -f='${Version}' dpdk 2>/dev/null | sed -E 's/^[0-9]+://; s/[-+~].*//' || true
}

# perflab_testpmd_launch DIR CPU VDEV TESTPMD_ARGS...: starts testpmd interactive, in the
# background; sets PERFLAB_TP_PID, PERFLAB_TP_LOG, PERFLAB_TP_FD, PERFLAB_TP_PREFIX.
perflab_testpmd_launch() {
    local dir=$1 cpu=$2 vdev=$3 bin
    shift 3
    bin=$(perflab_testpmd_bin) || return 1
    PERFLAB_TP_PREFIX=perflab-$$-$RANDOM
    PERFLAB_TP_LOG=$dir/testpmd.log
    local fifo=$dir/testpmd.fifo
    rm -f "$fifo"; mkfifo "$fifo"
    exec {PERFLAB_TP_FD}<>"$fifo"
    taskset -c "$cpu" stdbuf -oL "$bin" --no-huge -m 1024 --no-pci --no-shconf --no-telemetry \
        --file-prefix "$PERFLAB_TP_PREFIX" --lcores "0@$cpu,1@$cpu" --vdev "$vdev" \
        -- -i --port-topology=loop --disable-link-check --nb-cores=1 "$@" \
        <>"$fifo" >"$PERFLAB_TP_LOG" 2>&1 &
    PERFLAB_TP_PID=$!
    PERFLAB_PIDS+=("$PERFLAB_TP_PID")
}

# perflab_testpmd_wait_prompt [SECONDS]: waits for the "testpmd> " prompt (30 s); returns 1,
# with the log on stderr, if it does not come or testpmd exits.
perflab_testpmd_wait_prompt() {
    local secs=${1:-30} i
    for ((i = 0; i < secs * 10; i++)); do
        if grep -q '^testpmd> ' "$PERFLAB_TP_LOG" 2>/dev/null; then
            # It gets there even when its port did not attach: then it is useless.
            grep -q 'No probed ethernet devices' "$PERFLAB_TP_LOG" || return 0
            break
        fi
        kill -0 "$PERFLAB_TP_PID" 2>/dev/null || break
        sleep 0.1
    done
    perflab_log "dpdk-testpmd did not start:"; cat "$PERFLAB_TP_LOG" >&2
    return 1
}

# perflab_testpmd_start DIR CPU VDEV TESTPMD_ARGS...: launch, then wait for the prompt.
perflab_testpmd_start() { perflab_testpmd_launch "$@" && perflab_testpmd_wait_prompt 30; }

# perflab_testpmd_cmd LINE: one interactive command.
perflab_testpmd_cmd() { printf '%s\n' "$1" >&"$PERFLAB_TP_FD"; }

# perflab_testpmd_port_stats [PORT]: "show port stats PORT"; prints the block and sets
# TP_RX TP_RX_MISSED TP_RX_ERRORS TP_RX_BYTES TP_TX TP_TX_ERRORS TP_TX_BYTES. Returns 1 on timeout.
perflab_testpmd_port_stats() {
    local port=${1:-0} off i block=""
    off=$(stat -c %s "$PERFLAB_TP_LOG")
    perflab_testpmd_cmd "show port stats $port"
    for ((i = 0; i < 100; i++)); do
        block=$(tail -c +"$((off + 1))" "$PERFLAB_TP_LOG" | sed -n "/NIC statistics for port $port /,/^ *#\{20,\} *\$/p")
        (($(grep -c '#####' <<<"$block") >= 2)) && break
        block=""; sleep 0.1
    done
    [[ -n $block ]] || return 1
    printf '%s\n' "$block"
    TP_RX=$(sed -nE 's/.*RX-packets: *([0-9]+).*/\1/p' <<<"$block")
    TP_RX_MISSED=$(sed -nE 's/.*RX-missed: *([0-9]+).*/\1/p' <<<"$block")
    TP_RX_ERRORS=$(sed -nE 's/.*RX-errors: *([0-9]+).*/\1/p' <<<"$block")
    TP_RX_BYTES=$(sed -nE 's/.*RX-bytes: *([0-9]+).*/\1/p' <<<"$block")
    TP_TX=$(sed -nE 's/.*TX-packets: *([0-9]+).*/\1/p' <<<"$block")
    TP_TX_ERRORS=$(sed -nE 's/.*TX-errors: *([0-9]+).*/\1/p' <<<"$block")
    TP_TX_BYTES=$(sed -nE 's/.*TX-bytes: *([0-9]+).*/\1/p' <<<"$block")
}

# perflab_testpmd_quit: "quit", wait up to 5 s, then SIGTERM/SIGKILL by PID; removes the
# (empty) runtime directory its unique --file-prefix created.
perflab_testpmd_quit() {
    local i d
    [[ -n ${PERFLAB_TP_PID:-} ]] || return 0
    perflab_testpmd_cmd quit 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$PERFLAB_TP_PID" 2>/dev/null || break; sleep 0.1; done
    perflab_stop "$PERFLAB_TP_PID" 3
    for d in "/var/run/dpdk/$PERFLAB_TP_PREFIX" "${XDG_RUNTIME_DIR:-/nonexistent}/dpdk/$PERFLAB_TP_PREFIX" "/tmp/dpdk/$PERFLAB_TP_PREFIX"; do
        [[ -d $d ]] && rm -f "$d"/* 2>/dev/null; rmdir "$d" 2>/dev/null || true
    done
    exec {PERFLAB_TP_FD}>&- 2>/dev/null || true
    PERFLAB_TP_PID=""
}

# perflab_backend_summary LOG: sets BE_PACKETS (sum over queues) and BE_BYTES from
# perflab-backend's SIGTERM summary line.
perflab_backend_summary() {
    BE_PACKETS=$(sed -nE 's/^summary: .* packets=([0-9]+) .*/\1/p' "$1" | tail -n 1)
    BE_BYTES=$(sed -nE 's/^summary: .* bytes=([0-9]+) .*/\1/p' "$1" | tail -n 1)
    BE_PACKETS=${BE_PACKETS:-0} BE_BYTES=${BE_BYTES:-0}
}
