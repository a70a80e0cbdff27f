#!/usr/bin/env bash
# Interop: a real Linux kernel's 9P2000.L client (v9fs over TCP) against emu-9p.
# Usage: Tests/Integration/ninep-linux-guest.sh PATH-TO-emu-9p
# Boots the installed Debian kernel (linux-image-amd64) under qemu-system-x86_64 (TCG, never KVM)
# with an initramfs made here from busybox-static and the kernel's own modules; the guest mounts
# the export over slirp networking (host loopback = 10.0.2.2), runs a file workload and prints
# "GUEST-RESULT name value" lines on its serial console. This script then checks those results
# and the export itself on the host. Prints one line per check and closes with
# "N passed, N failed"; exits non-zero on a failure or when a peer tool is missing (loudly: CI
# installs them, so it never skips there).
# Submounts: two separate tmpfs are mounted inside the export (sub-a, sub-b) before the server
# starts, so files on three devices, with equal inode numbers on the two tmpfs, are served through
# one 9P mount; the guest's inode numbers (v9fs derives them from qid.path) must be pairwise
# distinct. Mounting needs root: run as any other user, those checks FAIL (CI runs as root).
set -u
integration_dir=$(dirname "$(realpath "$0")")
emu9p=${1:?usage: $0 PATH-TO-emu-9p}
export PATH="$PATH:/usr/sbin:/sbin"

missing() {
    echo "MISSING PEER: $1; the Linux-guest 9P interop test cannot run" >&2
    echo "0 passed, 1 failed"
    exit 1
}
command -v qemu-system-x86_64 >/dev/null || missing "qemu-system-x86_64 (apt-get install qemu-system-x86)"
. "$integration_dir/../../scripts/lib/initramfs.sh"
tool=$(initramfs_missing_tool)
[ -z "$tool" ] || missing "$tool"
initramfs_find_kernel \
    || missing "a kernel in /boot with 9p modules in /lib/modules/VERSION (apt-get install linux-image-amd64)"
[ -r "$kernel" ] || missing "read access to $kernel (run as root)"
[ -x "$emu9p" ] || { echo "no emu-9p at $emu9p" >&2; echo "0 passed, 1 failed"; exit 1; }

work=$(mktemp -d)
export_dir="$work/export"
root="$work/initramfs"
log="$work/console.log"
mkdir -p "$export_dir"
echo "hello from the host" > "$export_dir/host-hello.txt"
head -c 1048576 /dev/urandom > "$export_dir/host-data.bin"
host_md5=$(md5sum < "$export_dir/host-data.bin" | cut -d' ' -f1)

server="" qemu=""
submounts=() # the tmpfs mounted inside the export, unmounted by cleanup
cleanup() {
    if [ -n "$qemu" ]; then kill "$qemu" 2>/dev/null; wait "$qemu" 2>/dev/null; fi
    if [ -n "$server" ]; then kill -9 "$server" 2>/dev/null; wait "$server" 2>/dev/null; fi
    local m
    for m in "${submounts[@]}"; do
        umount "$m" 2>/dev/null || umount -l "$m" || echo "could not unmount $m" >&2
    done
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# --- submounts: two tmpfs inside the export, each with a file created first thing (per-mount
# tmpfs inode numbering gives both the same number), and a file on the export's own fs ---
echo "on the export's own fs" > "$export_dir/own.txt"
sub_fail="" # why the submount checks cannot pass; empty when both tmpfs are mounted
if [ "$(id -u)" -ne 0 ]; then
    sub_fail="the submount checks need root to mount tmpfs inside the export (running as uid $(id -u)); run this test as root, as CI does"
else
    for s in sub-a sub-b; do
        mkdir "$export_dir/$s"
        if mount -t tmpfs -o size=16m "emu9p-test-$s" "$export_dir/$s"; then
            submounts+=("$export_dir/$s")
            echo "first file in $s" > "$export_dir/$s/first.txt"
        else
            sub_fail="mount -t tmpfs on $export_dir/$s failed (as root)"; break
        fi
    done
fi
if [ -z "$sub_fail" ]; then
    ino_a=$(stat -c %i "$export_dir/sub-a/first.txt") ino_b=$(stat -c %i "$export_dir/sub-b/first.txt")
    if [ "$ino_a" != "$ino_b" ]; then
        # Kernels without per-mount tmpfs numbering: create files on the lower side until one
        # has the other's number, and make it the first file.
        lo=sub-a want=$ino_b; [ "$ino_a" -gt "$ino_b" ] && { lo=sub-b; want=$ino_a; }
        for i in $(seq 1 1000); do
            echo "first file in $lo" > "$export_dir/$lo/pad-$i"
            n=$(stat -c %i "$export_dir/$lo/pad-$i")
            if [ "$n" = "$want" ]; then mv -f "$export_dir/$lo/pad-$i" "$export_dir/$lo/first.txt"; break; fi
            [ "$n" -gt "$want" ] && break
        done
    fi
    dev_own=$(stat -c %d "$export_dir/own.txt")
    dev_a=$(stat -c %d "$export_dir/sub-a") dev_b=$(stat -c %d "$export_dir/sub-b")
    echo "host: own.txt ino $(stat -c %i "$export_dir/own.txt") dev $dev_own;" \
        "sub-a/first.txt ino $(stat -c %i "$export_dir/sub-a/first.txt") dev $dev_a;" \
        "sub-b/first.txt ino $(stat -c %i "$export_dir/sub-b/first.txt") dev $dev_b;" \
        "tmpfs roots ino $(stat -c %i "$export_dir/sub-a") and $(stat -c %i "$export_dir/sub-b")"
    [ "$(stat -c %i "$export_dir/sub-a/first.txt")" = "$(stat -c %i "$export_dir/sub-b/first.txt")" ] \
        || echo "note: the two tmpfs first files have different inode numbers here; the check still verifies that the guest's inode numbers are unique"
else
    echo "SUBMOUNT CHECKS WILL FAIL: $sub_fail" >&2
fi

# --- the initramfs: busybox, the modules 9p over TCP and an e1000 NIC need, in load order ---
initramfs_start "$root" || { echo "could not start the initramfs" >&2; echo "0 passed, 1 failed"; exit 1; }
for m in e1000 netfs fscache 9pnet 9pnet_fd 9p; do
    initramfs_add_module "$root" "$kver" "$m" || missing "kernel module $m for $kver (apt-get install linux-image-amd64)"
done

cat > "$root/init" <<'GUEST'
#!/bin/busybox sh
# Runs as PID 1 with no stdio until /dev is mounted.
/bin/busybox mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
r() { echo "GUEST-RESULT $1 ${2:-}"; }
finish() { echo "GUEST-DONE"; sync; poweroff -f; sleep 30; }
port=$(sed -n 's/.*emu9p_port=\([0-9]*\).*/\1/p' /proc/cmdline)
r port "$port"
for m in $(cat /modules.order); do
    insmod "/lib/modules/$m.ko" || r "insmod-$m" FAIL
done
ip link set lo up
ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up || r network FAIL
if mount -t 9p -o trans=tcp,port="$port",version=9p2000.L,aname=guest-export,msize=262144 10.0.2.2 /mnt; then
    r mount ok
else
    r mount FAIL; dmesg | tail -20; finish
fi
grep ' /mnt 9p ' /proc/mounts | sed 's/^/GUEST-INFO /'
M=/mnt

# Reading the host's files.
r host-hello "$(cat $M/host-hello.txt)"
r host-md5 "$(md5sum < $M/host-data.bin | cut -d' ' -f1)"

# Create, write, read back (small text; 2 MiB of random data, several msize of writes).
echo "written by the guest" > $M/guest-small.txt && r small-readback "$(cat $M/guest-small.txt)"
echo "appended" >> $M/guest-small.txt && r small-lines "$(wc -l < $M/guest-small.txt)"
dd if=/dev/urandom of=/tmp/big bs=65536 count=32 2>/dev/null
r big-source-md5 "$(md5sum < /tmp/big | cut -d' ' -f1)"
cp /tmp/big $M/guest-big.bin || r big-copy FAIL
r big-readback-md5 "$(md5sum < $M/guest-big.bin | cut -d' ' -f1)"
r big-size "$(stat -c %s $M/guest-big.bin)"

# Rename.
echo "renamed content" > $M/before-rename.txt
mv $M/before-rename.txt $M/after-rename.txt
if [ ! -e $M/before-rename.txt ] && [ "$(cat $M/after-rename.txt)" = "renamed content" ]; then r rename ok; else r rename FAIL; fi

# Symlink: the target text, and reading through it (the client resolves it).
ln -s after-rename.txt $M/the-symlink || r symlink-create FAIL
r readlink "$(readlink $M/the-symlink)"
r symlink-read "$(cat $M/the-symlink)"
[ -L $M/the-symlink ] && r symlink-is-link ok || r symlink-is-link FAIL

# Hard link: link count and shared inode.
echo "linked" > $M/hard-a
ln $M/hard-a $M/hard-b || r hardlink-create FAIL
r hardlink-nlink "$(stat -c %h $M/hard-a)"
[ "$(stat -c %i $M/hard-a)" = "$(stat -c %i $M/hard-b)" ] && r hardlink-inode ok || r hardlink-inode FAIL
r hardlink-read "$(cat $M/hard-b)"

# mkdir, and readdir of a directory with 300 entries.
mkdir -p $M/dir/sub && [ -d $M/dir/sub ] && r mkdir ok || r mkdir FAIL
mkdir $M/many
i=1; while [ $i -le 300 ]; do echo "$i" > $M/many/entry-$i; i=$((i + 1)); done
r readdir-count "$(ls $M/many | wc -l)"
r readdir-long-count "$(ls -l $M/many | grep -c entry-)"
r many-150 "$(cat $M/many/entry-150)"

# Unlink and rmdir.
echo "doomed" > $M/doomed.txt
rm $M/doomed.txt && [ ! -e $M/doomed.txt ] && r unlink ok || r unlink FAIL
mkdir $M/doomed-dir && rmdir $M/doomed-dir && [ ! -e $M/doomed-dir ] && r rmdir ok || r rmdir FAIL
ls $M | grep -q '^doomed' && r unlink-readdir FAIL || r unlink-readdir ok

# chmod, truncate, statfs.
echo "mode" > $M/mode-file
chmod 640 $M/mode-file && r chmod-mode "$(stat -c %a $M/mode-file)" || r chmod-mode FAIL
chmod 755 $M/dir && r chmod-dir-mode "$(stat -c %a $M/dir)" || r chmod-dir-mode FAIL
truncate -s 3 $M/mode-file && r truncate-size "$(stat -c %s $M/mode-file)" || r truncate-size FAIL
stat -f $M >/dev/null && r statfs ok || r statfs FAIL

# Submounts: sub-a and sub-b are separate tmpfs on the host (their first files share an inode
# number there), own.txt is on the export's own fs; the client's inode number comes from qid.path.
for f in . own.txt sub-a sub-b sub-a/first.txt sub-b/first.txt; do
    r "ino-$(echo "$f" | tr / _)" "$(stat -c %i $M/$f)"
done
r sub-read-own "$(cat $M/own.txt)"
r sub-read-a "$(cat $M/sub-a/first.txt)"
r sub-read-b "$(cat $M/sub-b/first.txt)"
for s in sub-a sub-b; do
    echo "made by the guest in $s" > $M/$s/guest-made.txt || r "sub-create-$s" FAIL
    r "ino-${s}_guest-made.txt" "$(stat -c %i $M/$s/guest-made.txt)"
    r "sub-readback-$s" "$(cat $M/$s/guest-made.txt)"
done
r ino-again-sub-a_first.txt "$(stat -c %i $M/sub-a/first.txt)"

sync
cd /
umount /mnt && r umount ok || r umount FAIL
finish
GUEST
chmod 755 "$root/init"
initramfs_pack "$root" "$work/initrd.gz" gzip \
    || { echo "could not build the initramfs" >&2; echo "0 passed, 1 failed"; exit 1; }

# --- the server ---
port=$((20000 + RANDOM % 20000))
"$emu9p" --listen "tcp:127.0.0.1:$port" --export "$export_dir" > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
    grep -q serving "$work/server.log" 2>/dev/null && break
    sleep 0.05
done

# --- the guest: TCG only, a hard timeout, the serial console to a file ---
start=$(date +%s)
timeout 300 qemu-system-x86_64 -machine accel=tcg -cpu max -smp 1 -m 512 \
    -nodefaults -display none -monitor none -serial "file:$log" -no-reboot \
    -kernel "$kernel" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 panic=-1 quiet emu9p_port=$port" \
    -netdev user,id=n0 -device e1000,netdev=n0 < /dev/null > "$work/qemu.out" 2>&1 &
qemu=$!
wait "$qemu"; qemu_rc=$?; qemu=""
elapsed=$(( $(date +%s) - start ))
tr -d '\r' < "$log" > "$work/console.txt" 2>/dev/null
echo "guest ran ${elapsed}s (qemu exit $qemu_rc; kernel $kver)"

check_log="$work/out"
. "$integration_dir/lib/checks.sh"
guest() { # the value of the guest's last "GUEST-RESULT $1 value" line
    grep -a "^GUEST-RESULT $1 " "$work/console.txt" | tail -1 | cut -d' ' -f3-
}
is() { # $1 guest result name, $2 expected value
    local got; got=$(guest "$1")
    [ "$got" = "$2" ] || { echo "guest reported $1 = '$got', expected '$2'"; return 1; }
}
e=$export_dir
check "the guest finished its workload (GUEST-DONE) and powered off" \
    bash -c "grep -aqx GUEST-DONE '$work/console.txt' && [ $qemu_rc -eq 0 ]"
check "the guest loaded every module and configured its network" \
    bash -c "! grep -aE '^GUEST-RESULT (insmod-|network )' '$work/console.txt'"
check "the guest mounted the export (trans=tcp, 9p2000.L)" is mount ok
check "guest: reads the host's text file" is host-hello "hello from the host"
check "guest: md5 of the host's 1 MiB file matches the host's" is host-md5 "$host_md5"
check "guest: writes and reads back a small file, then appends" \
    eval "is small-readback 'written by the guest' && is small-lines 2"
big=$(guest big-source-md5)
check "guest: 2 MiB written and read back identically" \
    eval "[ -n '$big' ] && is big-readback-md5 '$big' && is big-size 2097152"
check "guest: rename" is rename ok
check "guest: readlink gives the symlink's target text" is readlink after-rename.txt
check "guest: reads through the symlink" \
    eval "is symlink-read 'renamed content' && is symlink-is-link ok"
check "guest: hard link has link count 2 and the same inode" \
    eval "is hardlink-nlink 2 && is hardlink-inode ok && is hardlink-read linked"
check "guest: mkdir" is mkdir ok
check "guest: readdir of 300 entries (ls and ls -l)" \
    eval "is readdir-count 300 && is readdir-long-count 300 && is many-150 150"
check "guest: unlink, rmdir, and readdir no longer lists them" \
    eval "is unlink ok && is rmdir ok && is unlink-readdir ok"
check "guest: chmod 640 / 755 seen by stat" \
    eval "is chmod-mode 640 && is chmod-dir-mode 755"
check "guest: truncate" is truncate-size 3
check "guest: statfs" is statfs ok
check "guest: umount" is umount ok

check "host: the guest's small file has its content" \
    bash -c "printf 'written by the guest\nappended\n' | cmp -s - '$e/guest-small.txt'"
check "host: the guest's 2 MiB file has the md5 the guest wrote" \
    bash -c "[ -n '$big' ] && [ \"\$(md5sum < '$e/guest-big.bin' | cut -d' ' -f1)\" = '$big' ]"
check "host: the rename happened" \
    bash -c "[ ! -e '$e/before-rename.txt' ] && [ \"\$(cat '$e/after-rename.txt')\" = 'renamed content' ]"
check "host: a real symlink with the right target text" \
    bash -c "[ -L '$e/the-symlink' ] && [ \"\$(readlink '$e/the-symlink')\" = after-rename.txt ]"
check "host: the hard link shares an inode (link count 2)" \
    bash -c "[ \"\$(stat -c %i '$e/hard-a')\" = \"\$(stat -c %i '$e/hard-b')\" ] && [ \"\$(stat -c %h '$e/hard-a')\" = 2 ]"
check "host: the directories exist" bash -c "[ -d '$e/dir/sub' ] && [ -d '$e/many' ]"
check "host: the 300 entries exist with their content" \
    bash -c "[ \$(ls '$e/many' | grep -c '^entry-') -eq 300 ] && [ \"\$(cat '$e/many/entry-300')\" = 300 ]"
check "host: unlinked file and removed directory are gone" \
    bash -c "[ ! -e '$e/doomed.txt' ] && [ ! -e '$e/doomed-dir' ]"
check "host: the mode set by chmod (640 file, 755 directory)" \
    bash -c "[ \"\$(stat -c %a '$e/mode-file')\" = 640 ] && [ \"\$(stat -c %a '$e/dir')\" = 755 ]"
check "host: the truncated size" bash -c "[ \"\$(stat -c %s '$e/mode-file')\" = 3 ]"
# Submounts.
sub_inos="ino-. ino-own.txt ino-sub-a ino-sub-b ino-sub-a_first.txt ino-sub-b_first.txt ino-sub-a_guest-made.txt ino-sub-b_guest-made.txt"
sub_ready() { [ -z "$sub_fail" ] || { echo "$sub_fail"; return 1; }; }
sub_devices() {
    sub_ready || return 1
    echo "devices: export $dev_own, sub-a $dev_a, sub-b $dev_b"
    [ "$dev_own" != "$dev_a" ] && [ "$dev_own" != "$dev_b" ] && [ "$dev_a" != "$dev_b" ] \
        && [ "$(stat -f -c %T "$e/sub-a")" = tmpfs ] && [ "$(stat -f -c %T "$e/sub-b")" = tmpfs ]
}
sub_reads() {
    sub_ready || return 1
    is sub-read-own "on the export's own fs" && is sub-read-a "first file in sub-a" \
        && is sub-read-b "first file in sub-b"
}
sub_distinct() {
    sub_ready || return 1
    local n v all=""
    for n in $sub_inos; do
        v=$(guest "$n")
        echo "guest $n = $v"
        [[ "$v" =~ ^[0-9]+$ ]] || { echo "guest reported no inode number for $n"; return 1; }
        all+="$v"$'\n'
    done
    [ -z "$(printf '%s' "$all" | sort | uniq -d)" ] || { echo "duplicate inode numbers in the guest"; return 1; }
    is ino-again-sub-a_first.txt "$(guest ino-sub-a_first.txt)"
}
sub_created() {
    sub_ready || return 1
    is sub-readback-sub-a "made by the guest in sub-a" && is sub-readback-sub-b "made by the guest in sub-b" \
        && [ "$(cat "$e/sub-a/guest-made.txt")" = "made by the guest in sub-a" ] \
        && [ "$(cat "$e/sub-b/guest-made.txt")" = "made by the guest in sub-b" ] \
        && [ "$(stat -c %d "$e/sub-a/guest-made.txt")" = "$dev_a" ] \
        && [ "$(stat -c %d "$e/sub-b/guest-made.txt")" = "$dev_b" ]
}
if [ -z "$sub_fail" ]; then
    printf 'guest inode numbers (hex):'
    for n in $sub_inos; do v=$(guest "$n"); [[ "$v" =~ ^[0-9]+$ ]] && printf ' %s=%x' "${n#ino-}" "$v" || printf ' %s=?' "${n#ino-}"; done
    echo
fi
check "submounts: two tmpfs mounted inside the export, on devices apart from the export's" sub_devices
check "guest: reads files on the export's own fs and across both submounts" sub_reads
check "guest: inode numbers (qid paths) pairwise distinct across the export and both submounts" sub_distinct
check "host: files the guest created in sub-a and sub-b landed in those tmpfs" sub_created

check "host: the host's own files are untouched" \
    bash -c "[ \"\$(md5sum < '$e/host-data.bin' | cut -d' ' -f1)\" = '$host_md5' ] && grep -qx 'hello from the host' '$e/host-hello.txt'"
check "the server is still serving (accepts a connection)" bash -c "kill -0 $server && exec 3<>/dev/tcp/127.0.0.1/$port"
kill -INT "$server"
for _ in $(seq 1 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.05; done
check "SIGINT stops the server cleanly" bash -c "! kill -0 $server 2>/dev/null && grep -q stopped '$work/server.log'"

if [ "$failed" -ne 0 ]; then
    echo "--- qemu output ---"; cat "$work/qemu.out"
    echo "--- server log ---"; tail -20 "$work/server.log"
    echo "--- guest console (tail) ---"; tail -60 "$work/console.txt"
    keep="${TMPDIR:-/tmp}/ninep-linux-guest-console.$$.log"
    cp "$work/console.txt" "$keep" && echo "full console log: $keep"
fi
finish_checks
