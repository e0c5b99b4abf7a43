#!/usr/bin/env bash
# Run the Autobahn test suite against rawsock, as a server and as a client, and gate the
# results. One command:
#
#     bash conformance/run.sh [--role server|client|both] [--cases '1.*,2.*']
#
# See conformance/README.md. Exit status: 0 when every gate that ran passed.
set -euo pipefail

# Sections where UNIMPLEMENTED is accepted (a comma-separated list of sections). None:
# rawsock implements every section, permessage-deflate (12.x, 13.x) included.
ALLOW_UNIMPLEMENTED=""

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
REPORTS="$HERE/reports"
RESULTS_MD="$HERE/RESULTS.md"
WSTEST="${WSTEST_HOME:-$HERE/.wstest}/bin/wstest"
AGENT="rawsock"
MAX_MESSAGE_SIZE=16777216
START_TIMEOUT=60        # seconds for a process to accept connections
STOP_TIMEOUT=10         # seconds between SIGTERM and SIGKILL
ROLE_TIMEOUT_MIN=45     # minutes for one role's whole run

usage() {
    cat <<'EOF'
usage: bash conformance/run.sh [options]

Runs the Autobahn test suite (wstest) against rawsock and gates the results.

  --role server|client|both   which role(s) to test (default: both)
  --cases PATTERNS            comma-separated case patterns, e.g. '1.*,2.*' (default: all);
                              a subset run skips the 517-case check and leaves RESULTS.md
  --timeout-minutes N         limit for one role's run (default: 45)
  --server-cmd CMD            server under test (default: python examples/echo.py);
                              "--port P --max-message-size 16777216" is appended
  --client-cmd CMD            client under test (default: python conformance/client_agent.py);
                              "--url URL --agent NAME" is appended
  --agent NAME                agent name in the reports (default: rawsock)
  -h, --help                  show this help

Environment: PYTHON (interpreter for the agents, default python, else python3).
EOF
}

ROLE="both"
CASES=""
SERVER_CMD=""
CLIENT_CMD=""
while (($#)); do
    case "$1" in
        --role) ROLE="${2:?--role needs a value}"; shift 2 ;;
        --role=*) ROLE="${1#*=}"; shift ;;
        --cases) CASES="${2:?--cases needs a value}"; shift 2 ;;
        --cases=*) CASES="${1#*=}"; shift ;;
        --timeout-minutes) ROLE_TIMEOUT_MIN="${2:?--timeout-minutes needs a value}"; shift 2 ;;
        --server-cmd) SERVER_CMD="${2:?--server-cmd needs a value}"; shift 2 ;;
        --client-cmd) CLIENT_CMD="${2:?--client-cmd needs a value}"; shift 2 ;;
        --agent) AGENT="${2:?--agent needs a value}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) printf 'run.sh: unknown argument %q\n\n' "$1" >&2; usage >&2; exit 2 ;;
    esac
done
case "$ROLE" in
    server|client|both) ;;
    *) echo "run.sh: --role must be server, client or both" >&2; exit 2 ;;
esac
[[ "$ROLE_TIMEOUT_MIN" =~ ^[1-9][0-9]*$ ]] \
    || { echo "run.sh: --timeout-minutes must be a positive number" >&2; exit 2; }
[[ "$AGENT" =~ ^[A-Za-z0-9_.-]+$ ]] \
    || { echo "run.sh: --agent must be letters, digits, '_', '.' or '-'" >&2; exit 2; }

if [[ -z "${PYTHON:-}" ]]; then
    if command -v python >/dev/null 2>&1; then PYTHON="python"; else PYTHON="python3"; fi
fi
[[ -n "$SERVER_CMD" ]] || SERVER_CMD="$PYTHON examples/echo.py"
[[ -n "$CLIENT_CMD" ]] || CLIENT_CMD="$PYTHON conformance/client_agent.py"

cd "$REPO"
# The agents import rawsock from this source tree, installed or not.
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"

log() { printf '\n==> %s\n' "$*"; }

# ----------------------------------------------------------------------------- processes
# Every process started here runs in its own process group (setsid), so that stopping it
# also stops its children. All of them are stopped on exit, whatever the exit.
PIDS=()

stop_pid() {
    local pid="$1" waited=0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && ((waited < STOP_TIMEOUT * 10)); do
        sleep 0.1
        waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        stop_pid "$pid"
    done
    PIDS=()
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT
trap 'echo "run.sh: terminated" >&2; exit 143' TERM

# start_bg LOGFILE CMD...: start CMD in the background, output to LOGFILE; sets BG_PID.
start_bg() {
    local logfile="$1"
    shift
    setsid "$@" >"$logfile" 2>&1 </dev/null 9>&- &
    BG_PID=$!
    PIDS+=("$BG_PID")
}

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# wait_for_port PID PORT LOGFILE: wait until 127.0.0.1:PORT accepts connections.
wait_for_port() {
    local pid="$1" port="$2" logfile="$3" deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "run.sh: the process exited before listening on port $port; its log ($logfile):" >&2
            tail -n 30 "$logfile" >&2 || true
            return 1
        fi
        if timeout 1 bash -c ": <>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    echo "run.sh: nothing listened on 127.0.0.1:$port within ${START_TIMEOUT}s; log ($logfile):" >&2
    tail -n 30 "$logfile" >&2 || true
    return 1
}

# wait_bounded PID LABEL [PROGRESS_CMD]: wait for PID (already bounded by `timeout`),
# showing PROGRESS_CMD's output every 30 s; returns PID's exit status.
wait_bounded() {
    local pid="$1" label="$2" progress="${3:-}" start=$SECONDS next=$((SECONDS + 30)) rc=0
    while kill -0 "$pid" 2>/dev/null; do
        sleep 1
        if [[ -n "$progress" ]] && ((SECONDS >= next)); then
            printf '    [%s] %s, %d min %02d s\n' "$label" "$(eval "$progress")" \
                $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60))
            next=$((SECONDS + 30))
        fi
    done
    wait "$pid" || rc=$?
    return "$rc"
}

# ----------------------------------------------------------------------------- helpers
cases_json() {
    python3 -c 'import json, sys
patterns = [p.strip() for p in sys.argv[1].split(",") if p.strip()] or ["*"]
print(json.dumps(patterns))' "$CASES"
}

WSTEST_VERSION=""
wstest_version() {
    if [[ -z "$WSTEST_VERSION" ]]; then
        WSTEST_VERSION="$("$WSTEST" -a 2>/dev/null | tr -s '\n' ' ' | sed 's/ *$//')" || true
        [[ -n "$WSTEST_VERSION" ]] || WSTEST_VERSION="unknown"
    fi
    printf '%s' "$WSTEST_VERSION"
}

# gate ROLE OUTDIR WALL_SECONDS SUBSET_COUNT: run gate.py; returns its status.
gate() {
    local role="$1" outdir="$2" wall="$3" subset_count="$4"
    local args=(--role "$role" --agent "$AGENT" --allow-unimplemented "$ALLOW_UNIMPLEMENTED")
    if [[ -n "$CASES" ]]; then
        # A subset run: check the count wstest announced, if any; RESULTS.md is left alone.
        args+=(--expect-cases "${subset_count:-any}")
    else
        args+=(--results-md "$RESULTS_MD" --wstest-version "$(wstest_version)"
            --wall-seconds "$wall")
    fi
    python3 "$HERE/gate.py" "$outdir" "${args[@]}"
}

ROLE_TIMEOUT_S=$((ROLE_TIMEOUT_MIN * 60))

# ----------------------------------------------------------------------------- server role
run_server_role() {
    local outdir="$REPORTS/server" spec="$REPORTS/spec-server.json" port start=$SECONDS
    local agent_log="$REPORTS/server-agent.log" wstest_log="$REPORTS/wstest-server.log"
    rm -rf "$outdir"
    mkdir -p "$outdir"
    port="$(free_port)"

    log "server role: starting the server under test on 127.0.0.1:$port"
    echo "    $SERVER_CMD --port $port --max-message-size $MAX_MESSAGE_SIZE"
    start_bg "$agent_log" bash -c "exec $SERVER_CMD --port $port --max-message-size $MAX_MESSAGE_SIZE"
    local agent_pid=$BG_PID
    wait_for_port "$agent_pid" "$port" "$agent_log" || return 1

    python3 -c 'import json, sys
outdir, agent, port, cases = sys.argv[1:5]
spec = {
    "outdir": outdir,
    "servers": [{"agent": agent, "url": "ws://127.0.0.1:%s" % port}],
    "cases": json.loads(cases),
    "exclude-cases": [],
    "exclude-agent-cases": {},
}
print(json.dumps(spec, indent=2))' "$outdir" "$AGENT" "$port" "$(cases_json)" >"$spec"

    log "server role: wstest -m fuzzingclient (cases $(cases_json), limit ${ROLE_TIMEOUT_MIN} min)"
    start_bg "$wstest_log" timeout --kill-after=30 "$ROLE_TIMEOUT_S" \
        "$WSTEST" -m fuzzingclient -s "$spec"
    local rc=0
    wait_bounded "$BG_PID" server \
        "echo \"\$(grep -c '^Running test case' '$wstest_log' || true) cases run\"" || rc=$?
    stop_pid "$agent_pid"
    if ((rc == 124 || rc == 137)); then
        echo "run.sh: wstest did not finish within ${ROLE_TIMEOUT_MIN} min (log: $wstest_log)" >&2
    elif ((rc != 0)); then
        echo "run.sh: wstest exited with status $rc; its log ($wstest_log):" >&2
        tail -n 30 "$wstest_log" >&2 || true
    fi
    if [[ -s "$agent_log" ]]; then
        echo "    server output: $agent_log"
    fi

    local announced
    announced="$(sed -n 's/^Ok, will run \([0-9]*\) test cases.*/\1/p' "$wstest_log" | head -n 1)"
    log "server role: gate"
    gate server "$outdir" $((SECONDS - start)) "$announced"
}

# ----------------------------------------------------------------------------- client role
run_client_role() {
    local outdir="$REPORTS/client" spec="$REPORTS/spec-client.json" port start=$SECONDS
    local agent_log="$REPORTS/client-agent.log" wstest_log="$REPORTS/wstest-client.log"
    rm -rf "$outdir"
    mkdir -p "$outdir"
    port="$(free_port)"

    python3 -c 'import json, sys
outdir, port, cases = sys.argv[1:4]
spec = {
    "url": "ws://127.0.0.1:%s" % port,
    "outdir": outdir,
    "cases": json.loads(cases),
    "exclude-cases": [],
    "exclude-agent-cases": {},
}
print(json.dumps(spec, indent=2))' "$outdir" "$port" "$(cases_json)" >"$spec"

    # -u 0: no embedded web server for browsing the reports (it would take port 8080).
    log "client role: wstest -m fuzzingserver on 127.0.0.1:$port (cases $(cases_json))"
    start_bg "$wstest_log" timeout --kill-after=30 "$ROLE_TIMEOUT_S" \
        "$WSTEST" -m fuzzingserver -s "$spec" -u 0
    local wstest_pid=$BG_PID
    wait_for_port "$wstest_pid" "$port" "$wstest_log" || return 1

    local url="ws://127.0.0.1:$port"
    log "client role: running the client under test (limit ${ROLE_TIMEOUT_MIN} min)"
    echo "    $CLIENT_CMD --url $url --agent $AGENT"
    start_bg "$agent_log" timeout --kill-after=30 "$ROLE_TIMEOUT_S" \
        bash -c "exec $CLIENT_CMD --url $url --agent $AGENT"
    local client_pid=$BG_PID
    # Show the client's own progress lines as they come.
    tail -n +1 -f --pid="$client_pid" "$agent_log" 2>/dev/null | sed -u 's/^/    /' &
    local tail_pid=$!
    local rc=0
    wait_bounded "$client_pid" client || rc=$?
    wait "$tail_pid" 2>/dev/null || true
    stop_pid "$wstest_pid"
    if ((rc == 124 || rc == 137)); then
        echo "run.sh: the client did not finish within ${ROLE_TIMEOUT_MIN} min" >&2
    elif ((rc != 0)); then
        echo "run.sh: the client exited with status $rc (log: $agent_log)" >&2
    fi

    local announced
    announced="$(sed -n 's/^case count: \([0-9]*\)$/\1/p' "$agent_log" | head -n 1)"
    log "client role: gate"
    gate client "$outdir" $((SECONDS - start)) "$announced"
}

# ----------------------------------------------------------------------------- main
mkdir -p "$REPORTS"
# One run at a time: runs share conformance/reports/ (and the wstest installation).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$REPORTS/.lock"
    flock -n 9 || { echo "run.sh: another run is using $REPORTS; wait for it to end" >&2; exit 1; }
fi

log "provisioning wstest"
bash "$HERE/provision.sh" 9>&-

RESULTS=()
STATUS=0
if [[ "$ROLE" == server || "$ROLE" == both ]]; then
    if run_server_role; then RESULTS+=("server: PASSED"); else RESULTS+=("server: FAILED"); STATUS=1; fi
fi
if [[ "$ROLE" == client || "$ROLE" == both ]]; then
    if run_client_role; then RESULTS+=("client: PASSED"); else RESULTS+=("client: FAILED"); STATUS=1; fi
fi

log "summary"
for line in "${RESULTS[@]}"; do
    echo "    $line"
done
if [[ -n "$ALLOW_UNIMPLEMENTED" ]]; then
    echo "    (UNIMPLEMENTED accepted in sections $ALLOW_UNIMPLEMENTED)"
fi
if [[ -n "$CASES" ]]; then
    echo "    subset run ($CASES): $RESULTS_MD left unchanged"
else
    echo "    results: $RESULTS_MD"
fi
exit "$STATUS"
