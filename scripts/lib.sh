# Shared helpers for PerfLab's scripts. Source it; do not run it.
# - perflab_ensure_built: builds the two programs (Release) once, and again only when a
#   source file is newer than the binaries.
# - perflab_spawn / perflab_stop_all: start background processes and stop them by PID when
#   the script ends, fails or times out (trap installed by perflab_trap).

PERFLAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PERFLAB_BACKEND_BIN=$PERFLAB_ROOT/backend/PerfLab.Backend.Cli/bin/Release/net10.0/perflab-backend
PERFLAB_LOADGEN_BIN=$PERFLAB_ROOT/loadgen/PerfLab.LoadGen.Cli/bin/Release/net10.0/perflab-loadgen
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

# perflab_stop PID [SECONDS]: SIGTERM, wait up to SECONDS (5), then SIGKILL.
perflab_stop() {
    local pid=$1 wait_s=${2:-5} i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < wait_s * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
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

# Median of the numbers given as arguments.
perflab_median() {
    printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'
}
