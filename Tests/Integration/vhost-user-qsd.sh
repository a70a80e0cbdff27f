#!/usr/bin/env bash
# Interop: emu-vhost (our vhost-user front end, a virtio-blk driver on a virtio-mmio transport,
# no VM) against qemu-storage-daemon's vhost-user-blk export (Debian qemu-system-common), data
# checked with qemu-io/qemu-img (Debian qemu-utils).
# Usage: Tests/Integration/vhost-user-qsd.sh PATH-TO-emu-vhost
# Prints one line per check and closes with "N passed, N failed"; exits non-zero on a failure
# or when a peer tool is missing (loudly: CI installs them, so it never skips there).
set -u
emuvhost=${1:?usage: $0 PATH-TO-emu-vhost}
for tool in qemu-storage-daemon:qemu-system-common qemu-io:qemu-utils qemu-img:qemu-utils; do
    if ! command -v "${tool%%:*}" >/dev/null; then
        echo "MISSING PEER: ${tool%%:*} (apt-get install ${tool##*:}); the vhost-user interop tests cannot run" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
done

work=$(mktemp -d)
img="$work/disk.img"
sock="$work/vhost.sock"
qsd=""
stop_qsd() { [ -n "$qsd" ] && { kill "$qsd" 2>/dev/null; wait "$qsd" 2>/dev/null; }; qsd=""; }
start_qsd() { # $1: the --blockdev argument, $2: more export options (",num-queues=2")
    rm -f "$sock"
    qemu-storage-daemon --blockdev "$1" \
        --export "type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path=$sock,writable=on${2:-}" \
        > "$work/qsd.log" 2>&1 &
    qsd=$!
    for _ in $(seq 1 100); do [ -S "$sock" ] && return 0; sleep 0.05; done
    echo "qemu-storage-daemon did not create $sock:" >&2; cat "$work/qsd.log" >&2
    return 1
}
cleanup() { stop_qsd; rm -rf "$work"; }
trap cleanup EXIT

passed=0 failed=0
check() { # $1 description, then the command; the command's success is the check
    local what=$1; shift
    if "$@" > "$work/check.out" 2>&1; then
        passed=$((passed + 1)); echo "ok   $what"
    else
        failed=$((failed + 1)); echo "FAIL $what"; sed 's/^/     /' "$work/check.out"
    fi
}
ev() { timeout 30 "$emuvhost" blk --socket "$sock" "$@"; }

# Data qemu-io writes before the daemon starts (it locks the image while it runs).
qemu-img create -q -f raw "$img" 64M
qemu-io -f raw -c "write -q -P 0x5c 1M 64k" "$img"
head -c 65536 /dev/zero | tr '\0' '\134' > "$work/pattern-5c"
start_qsd "driver=file,node-name=f0,filename=$img" || exit 1

check "info: GET_CONFIG capacity is the image's 64 MiB" \
    bash -c "timeout 30 '$emuvhost' blk --socket '$sock' info | tee /dev/stderr | grep -qx 'capacity-bytes: 67108864'"
check "info: REPLY_ACK and CONFIG negotiated" \
    bash -c "timeout 30 '$emuvhost' blk --socket '$sock' info | grep '^negotiated' | grep REPLY_ACK | grep -q CONFIG"
check "read: the bytes qemu-io wrote" \
    bash -c "timeout 30 '$emuvhost' blk --socket '$sock' read 1048576 65536 | cmp - '$work/pattern-5c'"
head -c 300000 /dev/urandom > "$work/random"
check "write: 300000 random bytes at an unaligned offset" ev write 1000 "$work/random"
check "read back through the front end" \
    bash -c "timeout 30 '$emuvhost' blk --socket '$sock' read 1000 300000 | cmp - '$work/random'"
head -c 131072 /dev/zero | tr '\0' '\247' > "$work/pattern-a7"
check "write: 128 KiB of 0xa7 at 4 MiB" ev write 4194304 "$work/pattern-a7"
check "read past the end is refused" bash -c "! timeout 30 '$emuvhost' blk --socket '$sock' read 67108000 4096"

# The daemon restarted: a new front end negotiates from scratch.
stop_qsd
check "qemu-io sees the 0xa7 pattern" bash -c "qemu-io -f raw -c 'read -P 0xa7 4M 128k' '$img' | tee /dev/stderr | grep -q 'read 131072/131072' && ! qemu-io -f raw -c 'read -P 0xa7 4M 128k' '$img' | grep -qi 'verification failed'"
check "the image holds the random bytes" bash -c "dd if='$img' bs=1000 skip=1 count=300 status=none | cmp - '$work/random'"
check "the bytes around the write are untouched" bash -c "dd if='$img' bs=1000 count=1 status=none | cmp - <(head -c 1000 /dev/zero)"
start_qsd "driver=file,node-name=f0,filename=$img" || exit 1
check "after a daemon restart: the data is still read back" \
    bash -c "timeout 30 '$emuvhost' blk --socket '$sock' read 1000 300000 | cmp - '$work/random'"

# One front end across daemon restarts. Between requests: the idle ring is restored on the new
# daemon without the guest noticing (no reset). With a request sent while the daemon is away:
# the device asks for a reset, and after it the reads go on.
watch() { # $1 count, $2 interval-ms, $3 seconds before the restart
    timeout 60 "$emuvhost" blk --socket "$sock" watch 1048576 65536 --count "$1" --interval-ms "$2" > "$work/watch.out" 2>&1 &
    local w=$!
    sleep "$3"
    stop_qsd
    start_qsd "driver=file,node-name=f0,filename=$img" || return 1
    wait "$w"
}
# Every read must hash like the first (made before the restart, of the bytes checked above).
same_hashes() { # $1 expected number of reads
    [ "$(grep -c '^read [0-9]*: fnv1a=' "$work/watch.out")" -eq "$1" ] &&
    [ "$(grep '^read [0-9]*: fnv1a=' "$work/watch.out" | sed 's/.*fnv1a=\([0-9a-f]*\).*/\1/' | sort -u | wc -l)" -eq 1 ]
}
watch 3 4000 1.5; rc=$?
check "restart between reads: every read answered (rc $rc), ring restored without a reset" \
    bash -c "cat '$work/watch.out'; [ $rc -eq 0 ] && $(declare -f same_hashes); work='$work' same_hashes 3 && grep -q '^read 2: .* reconnects=1 resets=0' '$work/watch.out'"
watch 30 50 0.5; rc=$?
check "restart under reads: every read answered (rc $rc) after a reset and a reconnect" \
    bash -c "cat '$work/watch.out'; [ $rc -eq 0 ] && $(declare -f same_hashes); work='$work' same_hashes 30 && grep -q '^read 29: .* reconnects=[1-9]' '$work/watch.out'"

# Multi-queue: the export's queues are all set up (MQ, GET_QUEUE_NUM), I/O still correct.
stop_qsd
start_qsd "driver=file,node-name=f0,filename=$img" ",num-queues=2" || exit 1
check "num-queues=2: both queues set up" bash -c "timeout 30 '$emuvhost' blk --socket '$sock' --queues 2 info | grep -qx 'queues: 2 (set up: 2)'"
check "num-queues=2: the random bytes read back" \
    bash -c "timeout 30 '$emuvhost' blk --socket '$sock' --queues 2 read 1000 300000 | cmp - '$work/random'"
check "asking for more queues than the export has is refused" bash -c "! timeout 30 '$emuvhost' blk --socket '$sock' --queues 3 info"

# A daemon killed under load: the front end reports the broken device, it does not hang.
timeout 60 "$emuvhost" blk --socket "$sock" bench --qd 8 --seconds 20 > "$work/bench.out" 2>&1 &
bench=$!
sleep 1.5
kill -9 "$qsd"; wait "$qsd" 2>/dev/null; qsd=""
start=$(date +%s)
wait "$bench"; rc=$?
took=$(( $(date +%s) - start ))
check "killed daemon: emu-vhost fails (rc $rc) within 10 s (took ${took}s), naming the disconnect" \
    bash -c "cat '$work/bench.out'; [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $took -le 10 ] && grep -qi 'disconnect\|broken' '$work/bench.out'"

# A RAM-backed node: the bench's requests complete.
start_qsd "driver=null-co,node-name=f0,size=1073741824,read-zeroes=on" || exit 1
check "bench against a null-co node, qd 4" bash -c "timeout 60 '$emuvhost' blk --socket '$sock' bench --qd 4 --seconds 1 | tee /dev/stderr | grep -q '4k-write qd=4: [1-9]'"
stop_qsd

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
