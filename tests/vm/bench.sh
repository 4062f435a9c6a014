# Sourced by /init when `cargo xtask bench --only pwru` puts it in the initramfs (as
# /dnt/bench.sh): the isolation world of scenario 2 (c1 on br-test, c3 on br-other, Docker's
# isolation chains), then dockernet-trace and pwru in turn, BENCH_RUNS times each, each timed
# from its start to its first report of the drop of c1's SYN to c3:8080. Results: `bench` lines
#   {name, ms, exit, stdout_hex, stderr_hex}: ms = start → first report (pwru: the first line
#   naming a drop function; the trace: its exit, right after its verdict)
BENCH_TIMEOUT=${BENCH_TIMEOUT:-240}
BENCH_RUNS=${BENCH_RUNS:-3}
DST=172.31.0.2
# The functions pwru names a drop by (6.12: sk_skb_reason_drop).
DROP_FUNCTIONS='kfree_skb|kfree_skb_reason|sk_skb_reason_drop'

bench_emit() { # NAME MS EXIT OUT ERR
    emit "{\"type\":\"bench\",\"name\":\"$1\",\"ms\":$2,\"exit\":$3,\"stdout_hex\":\"$(head -c 20000 "$4" | hex)\",\"stderr_hex\":\"$(tail -c 4000 "$5" | hex)\"}"
}

# The number of pwru's first line naming a drop function as a word of its own (kfree_skbmem
# frees every packet, dropped or not); empty while there is none.
first_drop_line() {
    grep -nE "[[:space:]]($DROP_FUNCTIONS)[[:space:]]" /tmp/pwru.out 2>/dev/null | head -n 1 | cut -d: -f1
}

bench_pwru() {
    [ -x /usr/bin/pwru ] || { say "no pwru in the initramfs"; return; }
    # What someone chasing a drop would type: the destination and port, the 5-tuple printed.
    t0=$(now_ms)
    pwru --output-tuple "dst host $DST and tcp dst port 8080" > /tmp/pwru.out 2> /tmp/pwru.err &
    pwru_pid=$!
    # Connection attempts every 200 ms from c1 until pwru shows a drop (it attaches meanwhile).
    ip netns exec c1 sh -c "while :; do nc -w 1 $DST 8080 </dev/null >/dev/null 2>&1 & sleep 0.2; done" &
    load_pid=$!
    ms=-1
    while [ $(($(now_ms) - t0)) -lt $((BENCH_TIMEOUT * 1000)) ]; do
        if [ -n "$(first_drop_line)" ]; then
            ms=$(($(now_ms) - t0))
            break
        fi
        kill -0 "$pwru_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill "$load_pid" 2>/dev/null
    kill -INT "$pwru_pid" 2>/dev/null
    wait "$pwru_pid"
    rc=$?
    say "pwru: first drop after $ms ms (exit $rc)"
    # What came up to the first drop line (the packets' paths before it can fill megabytes).
    first=$(first_drop_line)
    if [ -n "$first" ]; then
        head -n "$first" /tmp/pwru.out | tail -n 100 > /tmp/pwru.first
    else
        cp /tmp/pwru.out /tmp/pwru.first
    fi
    bench_emit pwru "$ms" "$rc" /tmp/pwru.first /tmp/pwru.err
}

bench_trace() {
    t0=$(now_ms)
    timeout "$BENCH_TIMEOUT" dockernet-trace --from netns:c1 --to "netns:c3:8080" --json > /tmp/out 2> /tmp/err
    rc=$?
    ms=$(($(now_ms) - t0))
    say "dockernet-trace: verdict after $ms ms (exit $rc)"
    bench_emit dockernet-trace "$ms" "$rc" /tmp/out /tmp/err
}

world_up > /tmp/setup 2>&1
run=0
while [ "$run" -lt "$BENCH_RUNS" ]; do
    bench_trace
    bench_pwru
    run=$((run + 1))
done
world_down
