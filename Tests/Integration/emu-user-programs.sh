#!/usr/bin/env bash
# Differential: x86-64 programs run natively and under emu-user; stdout and the exit status
# must be identical. C programs from Tests/Integration/programs are compiled here with
# `gcc -static`, `gcc -static-pie` and plain `gcc` (dynamically linked, lazy binding; Debian:
# gcc, libc6-dev); busybox applets come from Debian's busybox-static; the dynamically linked
# host programs (coreutils, dash) run with the host's ld.so and libraries. Missing peers fail
# loudly.
# Usage: Tests/Integration/emu-user-programs.sh PATH-TO-emu-user
set -u
emu=${1:?usage: $0 PATH-TO-emu-user}
here=$(cd "$(dirname "$0")" && pwd)
busybox=/bin/busybox
missing=0
command -v gcc >/dev/null || { echo "MISSING PEER: gcc (apt-get install gcc libc6-dev)" >&2; missing=1; }
[ -x "$busybox" ] || { echo "MISSING PEER: $busybox (apt-get install busybox-static)" >&2; missing=1; }
if [ "$missing" = 1 ]; then echo "0 passed, 1 failed"; exit 1; fi
if ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked' && ldd "$busybox" >/dev/null 2>&1; then
    echo "MISSING PEER: $busybox is not the static busybox (apt-get install busybox-static)" >&2
    echo "0 passed, 1 failed"; exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

# compare NAME STDIN-FILE COMMAND...: runs COMMAND natively and as `emu-user COMMAND`.
compare() {
    local name=$1 input=$2
    shift 2
    "$@" < "$input" > "$work/native.out" 2> "$work/native.err"
    local native=$?
    "$emu" "$@" < "$input" > "$work/emu.out" 2> "$work/emu.err"
    local emulated=$?
    if [ "$native" = "$emulated" ] && cmp -s "$work/native.out" "$work/emu.out"; then
        echo "ok   $name (exit $native)"
        passed=$((passed + 1))
    else
        echo "FAIL $name: native exit $native, emu-user exit $emulated"
        diff "$work/native.out" "$work/emu.out" | head -5
        tail -3 "$work/emu.err"
        failed=$((failed + 1))
    fi
}

# Inputs.
seq 1 3000 | awk '{ print ($1 * 7919) % 1000, "line", $1 }' > "$work/input.txt"
: > "$work/empty"
mkdir -p "$work/scratch-native" "$work/scratch-emu"

for src in "$here"/programs/*.c; do
    name=$(basename "$src" .c)
    if ! gcc -static -O2 -pthread -o "$work/$name" "$src" -lm || ! gcc -static-pie -fPIE -O2 -pthread -o "$work/$name-pie" "$src" -lm \
       || ! gcc -O2 -pthread -Wl,-z,lazy -o "$work/$name-dyn" "$src" -lm; then
        echo "FAIL $name: does not compile"
        failed=$((failed + 1))
        continue
    fi
    [ "$name" = seed001 ] && continue # run below, signalled from outside
    for variant in "$name" "$name-pie" "$name-dyn"; do
        case "$name" in
            files)
                # Each side gets its own scratch directory; the output names neither.
                "$work/$variant" "$work/scratch-native" > "$work/native.out" 2>&1; native=$?
                "$emu" "$work/$variant" "$work/scratch-emu" > "$work/emu.out" 2>&1; emulated=$?
                if [ "$native" = "$emulated" ] && cmp -s "$work/native.out" "$work/emu.out"; then
                    echo "ok   $variant (exit $native)"; passed=$((passed + 1))
                else
                    echo "FAIL $variant: native exit $native, emu-user exit $emulated"
                    diff "$work/native.out" "$work/emu.out" | head -5; failed=$((failed + 1))
                fi
                ;;
            signalfd)
                # emu-user does not implement signalfd4: natively the signal is read from the
                # descriptor, under emu-user the call must fail with ENOSYS (nothing else).
                "$work/$variant" > "$work/native.out" 2>&1; native=$?
                "$emu" "$work/$variant" > "$work/emu.out" 2>&1; emulated=$?
                if [ "$native" = 0 ] && [ "$emulated" = 0 ] && grep -qx "signalfd: read 128 bytes, signal 10, still pending 0" "$work/native.out" \
                   && [ "$(cat "$work/emu.out")" = "signalfd: ENOSYS" ]; then
                    echo "ok   $variant (native reads the signal, emu-user ENOSYS)"; passed=$((passed + 1))
                else
                    echo "FAIL $variant: native exit $native: $(cat "$work/native.out"); emu-user exit $emulated: $(cat "$work/emu.out")"
                    failed=$((failed + 1))
                fi
                ;;
            *)
                compare "$variant" "$work/empty" "$work/$variant" first second
                ;;
        esac
    done
done

# Seed 001: SIGUSR1 sent from outside while the program blocks in read(); with SA_RESTART the
# read completes with the byte the handler wrote, without it the read fails with EINTR.
seed_run() { # RUNNER-PREFIX... -- MODE OUTPUT
    local out=$1 mode=$2
    shift 2
    "$@" "$work/seed001" "$mode" > "$out" 2>&1 &
    local pid=$! waited=0
    # Wait until it is blocked in read(2) (syscall 0 in /proc/PID/syscall), so that the signal
    # interrupts the call rather than arriving before it.
    until [ "$(cut -d' ' -f1 "/proc/$pid/syscall" 2>/dev/null)" = 0 ] && grep -q "read()ing" "$out" 2>/dev/null \
          || [ $waited -ge 200 ]; do sleep 0.05; waited=$((waited + 1)); done
    sleep 0.1
    kill -USR1 "$pid"
    local deadline=0
    while kill -0 "$pid" 2>/dev/null && [ $deadline -lt 100 ]; do sleep 0.05; deadline=$((deadline + 1)); done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; echo "(hung in read)" >> "$out"; fi
    wait "$pid"
    echo "exit $?" >> "$out"
}
if gcc -static -O2 -o "$work/seed001" "$here/programs/seed001.c"; then
    for mode in restart eintr; do
        seed_run "$work/seed-native.out" "$mode" env
        seed_run "$work/seed-emu.out" "$mode" "$emu"
        if cmp -s "$work/seed-native.out" "$work/seed-emu.out" && grep -q "handler ran 1" "$work/seed-emu.out"; then
            echo "ok   seed 001 ($mode)"; passed=$((passed + 1))
        else
            echo "FAIL seed 001 ($mode)"; diff "$work/seed-native.out" "$work/seed-emu.out"; failed=$((failed + 1))
        fi
    done
else
    echo "FAIL seed001.c does not compile"; failed=$((failed + 1))
fi

in="$work/input.txt"
compare "busybox echo" "$work/empty" "$busybox" echo hello from busybox
compare "busybox cat" "$in" "$busybox" cat
compare "busybox wc" "$in" "$busybox" wc "$in"
compare "busybox ls" "$work/empty" "$busybox" ls -la /etc/
compare "busybox sort -k3 -r" "$in" "$busybox" sort -k3 -r
compare "busybox sed" "$in" "$busybox" sed -e 's/line/LINE/' -e '/^5/d'
compare "busybox md5sum" "$in" "$busybox" md5sum "$in"
compare "busybox sha256sum" "$in" "$busybox" sha256sum "$in"
compare "busybox grep -c" "$in" "$busybox" grep -c 7
compare "busybox cut" "$in" "$busybox" cut -d' ' -f2,3
compare "busybox od" "$in" "$busybox" od -x "$in"
compare "busybox false" "$work/empty" "$busybox" false
compare "busybox sh loop" "$work/empty" "$busybox" sh -c 'i=0; while [ $i -lt 500 ]; do i=$((i+1)); done; echo $i; exit 7'
compare "busybox sort -n" "$in" "$busybox" sort -n
compare "busybox awk" "$in" "$busybox" awk '{ s += $1; n[$2]++ } END { printf "%d %.4f %g %d\n", s, s / NR, s * 1.5 / 7, n["line"] }'
compare "busybox seq" "$work/empty" "$busybox" seq 1 0.25 3
compare "busybox gzip | gunzip" "$in" "$busybox" sh -c "$busybox gzip -c | $busybox gunzip | $busybox md5sum"
compare "busybox sh pipeline" "$in" "$busybox" sh -c "$busybox head -100 | $busybox tr a-z A-Z | $busybox sort -r | $busybox uniq -c | $busybox wc -l; echo \$?"
compare "busybox sh subshells" "$work/empty" "$busybox" sh -c 'x=$(echo inner); y=$(ls / | wc -l); echo "$x $((y > 3))"; (exit 4); echo $?'

# Dynamically linked host programs (the guest's root is the host's: /etc/ld.so.cache and
# /lib/x86_64-linux-gnu are shared).
for prog in /bin/ls /bin/cat /usr/bin/sort /usr/bin/md5sum /bin/sh /usr/bin/env; do
    [ -x "$prog" ] || { echo "MISSING PEER: $prog (apt-get install coreutils dash)"; failed=$((failed + 1)); }
done
lsdir="$work/lsdir/fixed"
mkdir -p "$lsdir/sub"
printf 'alpha\n' > "$lsdir/a.txt"; printf 'beta beta\n' > "$lsdir/b.txt"; ln -s a.txt "$lsdir/link"
chmod 640 "$lsdir/a.txt"; chmod 755 "$lsdir/sub"
touch -h -d '2024-02-03 04:05:06' "$lsdir/a.txt" "$lsdir/b.txt" "$lsdir/link" "$lsdir/sub" "$lsdir"
compare "ls -la (dynamic)" "$work/empty" /bin/ls -la "$lsdir"
compare "ls -lR --time-style (dynamic)" "$work/empty" /bin/ls -lR --time-style=full-iso "$lsdir"
compare "cat (dynamic)" "$in" /bin/cat
compare "cat file (dynamic)" "$work/empty" /bin/cat "$in" "$lsdir/b.txt"
compare "sort -k3 -r (dynamic)" "$in" /usr/bin/sort -k3 -r
compare "sort -n (dynamic)" "$in" /usr/bin/sort -n
compare "md5sum (dynamic)" "$in" /usr/bin/md5sum "$in"
compare "env -i (dynamic)" "$work/empty" /usr/bin/env -i A=1 B=two /usr/bin/env
compare "env runs cat: dynamic execve of dynamic" "$in" /usr/bin/env /bin/cat
compare "dash pipeline (dynamic)" "$in" /bin/sh -c 'head -100 | tr a-z A-Z | sort -r | uniq -c | wc -l; echo $?'
compare "dash subshells (dynamic)" "$work/empty" /bin/sh -c 'x=$(echo inner); y=$(ls / | wc -l); echo "$x $((y > 3))"; (exit 4); echo $?'
compare "dash loop, exit status (dynamic)" "$work/empty" /bin/sh -c 'i=0; while [ $i -lt 300 ]; do i=$((i+1)); done; echo $i; exit 9'
compare "grep -c, awk, sed (dynamic)" "$in" /bin/sh -c "grep -c 7 $in; awk '{ s += \$1 } END { print s }' $in; sed -n 's/line/LINE/p' $in | tail -2"
compare "cp -a, ln, mv, chmod, rm, install, tar (dynamic)" "$work/empty" /bin/sh -c "d=$work/fsops; rm -rf \$d; mkdir \$d && cd \$d &&
    cp -a $here/programs p && ln -s p q && ln p/hello.c h && mv p r && chmod 600 r/files.c && rm r/memory.c &&
    install -m 640 $in i.txt && tar cf t.tar r && mkdir u && tar xf t.tar -C u && diff -r r u/r && echo same &&
    find . -printf '%p %m %n %s %y %l\n' | sort | md5sum"
compare "perl (dynamic)" "$in" /usr/bin/perl -e 'my %h; while (<STDIN>) { my @f = split; $h{$f[0]}++ } print scalar(keys %h), "\n"; printf("%.9f\n", atan2(1, 1) * 4)'
compare "gzip -9 | md5sum (dynamic)" "$in" /bin/sh -c 'gzip -9c | md5sum'
compare "find, diff (dynamic)" "$work/empty" /bin/sh -c "find $here/programs -name '*.c' | sort | wc -l; diff $here/programs/hello.c $here/programs/files.c | wc -l"
compare "timeout, child exits (rt_sigsuspend, dynamic)" "$work/empty" /usr/bin/timeout 5 /bin/true
compare "timeout expires (SIGALRM in rt_sigsuspend, dynamic)" "$work/empty" /usr/bin/timeout 0.2 /bin/sleep 5
compare "dash runs the dynamic C programs" "$work/empty" /bin/sh -c "$work/hello-dyn a b; echo \$?; $work/strings-dyn x | md5sum"

# A dynamically linked ET_EXEC (not PIE): the program at its own addresses, ld.so at the top.
if gcc -O2 -no-pie -o "$work/hello-nopie" "$here/programs/hello.c"; then
    compare "hello (dynamic, -no-pie)" "$work/empty" "$work/hello-nopie" first second
else
    echo "FAIL hello.c does not compile with -no-pie"; failed=$((failed + 1))
fi

# Lazy binding goes through the FXSAVE resolver (no XSAVE is advertised).
if [ -x "$work/lazybind-dyn" ] && "$emu" "$work/lazybind-dyn" resolver > "$work/resolver.out" 2>&1 \
   && grep -qx "resolver: fxsave" "$work/resolver.out"; then
    echo "ok   lazy binding through _dl_runtime_resolve_fxsave"; passed=$((passed + 1))
else
    echo "FAIL lazy binding resolver: $(cat "$work/resolver.out" 2>/dev/null)"; failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
