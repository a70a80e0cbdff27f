# Shared by the integration scripts (source it): counted checks and loud peer requirements.
#
#   require_peer TOOL PACKAGE WHAT   fail loudly (and exit 1) unless TOOL is on PATH
#   check NAME COMMAND...            run COMMAND; count and print "ok NAME" or "FAIL NAME" + output
#   expect_status STATUS COMMAND...  succeed when COMMAND exits with STATUS
#   finish_checks                    print "N passed, N failed"; return non-zero on a failure
#
# Check output goes to $check_log (default: a file in $work if set, else in TMPDIR).
passed=0
failed=0

require_peer() {
    if ! command -v "$1" >/dev/null; then
        echo "MISSING PEER: $1 (apt-get install $2); $3 cannot run" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
}

check() {
    local name=$1 log=${check_log:-${work:-${TMPDIR:-/tmp}}/check.$$.log}
    shift
    if "$@" > "$log" 2>&1; then
        passed=$((passed + 1))
        echo "ok   $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name"
        sed 's/^/     /' "$log" | head -40
    fi
}

expect_status() {
    local want=$1
    shift
    "$@"
    local got=$?
    [ "$got" -eq "$want" ] || { echo "exit status $got, expected $want"; return 1; }
}

finish_checks() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
