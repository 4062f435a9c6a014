# Sourced by /init. The result protocol and the scenario runner.
#
# Protocol: one line per fact, `DNT-RESULT {json}`, written to the second serial port (ttyS1,
# which carries nothing else, so kernel messages can never split a line), or to the console when
# there is no ttyS1. Free text (the tool's stdout and stderr, error messages) travels as
# lowercase hex in fields ending in `_hex`, so no shell quoting can break the JSON. Types:
#   kernel    {uname, uptime_ms, kprobe_pmu, btf_vmlinux, btf_bridge, btf_nf_tables, ftrace_br_forward, iptables_hex}
#   modules   {failed_hex}: " name:error" for each module that did not load
#   tool      {name, exit, ms, stdout_hex, stderr_hex}: `version` and `kernel-check`
#   scenario  {name, setup_hex, check_exit, check_hex, exit, stdout_hex, stderr_hex, ms, left_hex}: setup_hex
#             is whatever building the world and the fault printed (nothing, when all went well);
#             left_hex the clsact qdiscs still there after the trace (nothing, when it cleaned up)
#   done      {uptime_ms}: the guest finished; a log without it means a crash or a timeout
. /dnt/world.sh

# How long one tool run may take before the runner gives up on it (seconds); one trace took up
# to 90 s on 6.1 under TCG.
TOOL_TIMEOUT=${TOOL_TIMEOUT:-150}

hex() { od -An -v -tx1 | tr -d ' \n'; }

now_ms() {
    read -r up _ < /proc/uptime
    echo "${up%.*}${up#*.}0"
}

results_open() {
    RESULTS=/dev/console
    if [ -c /dev/ttyS1 ] && stty -F /dev/ttyS1 raw -echo 2>/dev/null; then
        RESULTS=/dev/ttyS1
    fi
}

emit() { echo "DNT-RESULT $1" > "$RESULTS"; }

say() { echo "dnt-vm: $*" > /dev/console; }

# run_tool NAME ARGS...: runs dockernet-trace with a hard timeout and reports it.
run_tool() {
    name=$1
    shift
    t0=$(now_ms)
    timeout "$TOOL_TIMEOUT" dockernet-trace "$@" > /tmp/out 2> /tmp/err
    rc=$?
    ms=$(($(now_ms) - t0))
    say "$name: exit $rc ($ms ms)"
    emit "{\"type\":\"tool\",\"name\":\"$name\",\"exit\":$rc,\"ms\":$ms,\"stdout_hex\":\"$(hex < /tmp/out)\",\"stderr_hex\":\"$(hex < /tmp/err)\"}"
}

# check NETNS ADDR PORT: can NETNS ("host" = here) open ADDR:PORT? The harness's own proof that the
# scenario built the fault it claims, whatever the tool says. Sets CHECK_EXIT and CHECK_MSG.
check() {
    if [ "$1" = host ]; then
        CHECK_MSG=$(timeout 2 wget -q -O /dev/null "http://$2:$3/" 2>&1)
    else
        CHECK_MSG=$(ip netns exec "$1" timeout 2 wget -q -O /dev/null "http://$2:$3/" 2>&1)
    fi
    CHECK_EXIT=$?
}

# run_scenario FILE: a scenario file sets NAME, FROM, TO and CHECK ("netns addr port"), and
# defines fault(), which breaks the healthy world; the EXPECT_* lines are read by the host.
run_scenario() {
    NAME="" FROM="" TO="" CHECK=""
    fault() { :; }
    . "$1"
    world_up > /tmp/setup 2>&1
    fault >> /tmp/setup 2>&1
    # CHECK is three words on purpose; no globbing, as an IPv6 address in brackets is a pattern.
    set -f
    # shellcheck disable=SC2086
    check $CHECK
    set +f
    t0=$(now_ms)
    timeout "$TOOL_TIMEOUT" dockernet-trace --from "$FROM" --to "$TO" --json > /tmp/out 2> /tmp/err
    rc=$?
    ms=$(($(now_ms) - t0))
    cause=$(sed -n 's/.*"cause" *: *"\([a-z_]*\)".*/\1/p' /tmp/out | head -n 1)
    # What the tool must not leave: the world has no clsact qdisc, so any is the tool's (with
    # its cls_bpf filters, on kernels without tcx).
    left=$(tc qdisc show | grep clsact)
    say "scenario $NAME: check exit $CHECK_EXIT, tool exit $rc, cause ${cause:-none} ($ms ms)"
    emit "{\"type\":\"scenario\",\"name\":\"$NAME\",\"setup_hex\":\"$(hex < /tmp/setup)\",\"check_exit\":$CHECK_EXIT,\
\"check_hex\":\"$(printf %s "$CHECK_MSG" | hex)\",\"exit\":$rc,\"ms\":$ms,\"left_hex\":\"$(printf %s "$left" | hex)\",\
\"stdout_hex\":\"$(hex < /tmp/out)\",\"stderr_hex\":\"$(hex < /tmp/err)\"}"
    world_down
}
