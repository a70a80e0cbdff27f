#!/usr/bin/env bash
# Interop: qcow2 and raw images between emu-img (BlockLayer) and qemu-img/qemu-io (Debian
# package qemu-utils), in both directions.
# Usage: Tests/Integration/qcow2-interop.sh PATH-TO-emu-img
# Prints one line per check and closes with "N passed, N failed"; exits non-zero on a failure
# or when a peer tool is missing (loudly: CI installs them, so it never skips there).
set -u
integration_dir=$(dirname "$(realpath "$0")")
emuimg=$(realpath "${1:?usage: $0 PATH-TO-emu-img}")
. "$integration_dir/lib/checks.sh"
require_peer qemu-img qemu-utils "the qcow2 interop tests"
require_peer qemu-io qemu-utils "the qcow2 interop tests"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# Source data: compressible text, random bytes and holes, 24 MiB.
head -c 24M /dev/zero > data.raw
head -c 3M /dev/urandom | dd of=data.raw bs=1M seek=2 conv=notrunc status=none
yes "emu-img interop line" | head -c 5M | dd of=data.raw bs=1M seek=9 conv=notrunc status=none
head -c 1M /dev/urandom | dd of=data.raw bs=1M seek=23 conv=notrunc status=none

# --- ours -> qemu ---------------------------------------------------------------------------
for cs in 512 65536 2097152; do
    check "emu-img convert raw->qcow2 (cluster $cs) passes qemu-img check" \
        sh -c "'$emuimg' convert -f raw -O qcow2 -o cluster_size=$cs data.raw ours-$cs.qcow2 && qemu-img check ours-$cs.qcow2"
    check "qemu-img compare reads our qcow2 (cluster $cs) identically" qemu-img compare -f qcow2 -F raw ours-$cs.qcow2 data.raw
    check "qemu-img convert of our qcow2 (cluster $cs) gives the same bytes" \
        sh -c "qemu-img convert -f qcow2 -O raw ours-$cs.qcow2 back-$cs.raw && cmp back-$cs.raw data.raw"
done
check "emu-img convert -c writes compressed clusters that qemu-img checks and reads identically" \
    sh -c "'$emuimg' convert -c -O qcow2 data.raw ourcomp.qcow2 && qemu-img check ourcomp.qcow2 | grep -q '[1-9][0-9.]*% compressed' \
        && qemu-img compare ourcomp.qcow2 data.raw && [ \$(stat -c %s ourcomp.qcow2) -lt \$(stat -c %s ours-65536.qcow2) ]"
check "qemu-io reads a pattern from our qcow2" qemu-io -f qcow2 -c "read -P 0 0 2M" -c "read -P 0 5M 4M" ours-65536.qcow2

check "emu-img create qcow2 with a qcow2 backing file" \
    "$emuimg" create -f qcow2 -b ours-65536.qcow2 -F qcow2 overlay.qcow2
check "qemu-img info sees our backing file and format" \
    sh -c "qemu-img info overlay.qcow2 | grep -q 'backing file: ours-65536.qcow2' && qemu-img info overlay.qcow2 | grep -q 'backing file format: qcow2'"
check "qemu-io writes into our overlay, we read the chain" \
    sh -c "qemu-io -c 'write -P 0x5a 1000k 200k' overlay.qcow2 && qemu-img convert -O raw overlay.qcow2 overlay-qemu.raw && '$emuimg' compare overlay.qcow2 overlay-qemu.raw"
check "our overlay passes qemu-img check" qemu-img check overlay.qcow2
check "emu-img convert of a chain equals qemu-img's" \
    sh -c "'$emuimg' convert -O raw overlay.qcow2 overlay-ours.raw && cmp overlay-ours.raw overlay-qemu.raw"
check "emu-img convert qcow2->qcow2 of a chain passes qemu-img check and compare" \
    sh -c "'$emuimg' convert -O qcow2 overlay.qcow2 flat.qcow2 && qemu-img check flat.qcow2 && qemu-img compare flat.qcow2 overlay-qemu.raw"

# --- qemu -> ours ---------------------------------------------------------------------------
for cs in 512 65536 2M; do
    check "emu-img reads qemu-img's qcow2 (cluster $cs)" \
        sh -c "qemu-img convert -f raw -O qcow2 -o cluster_size=$cs data.raw qemu-$cs.qcow2 && '$emuimg' compare qemu-$cs.qcow2 data.raw && '$emuimg' check qemu-$cs.qcow2"
done
check "emu-img reads qemu-img's compressed qcow2 (convert -c)" \
    sh -c "qemu-img convert -c -f raw -O qcow2 data.raw comp.qcow2 && qemu-img check comp.qcow2 | grep -q '[1-9][0-9.]*% compressed' && '$emuimg' compare comp.qcow2 data.raw && '$emuimg' check comp.qcow2"
check "emu-img reads qemu-img's compressed qcow2 with 512-byte clusters" \
    sh -c "qemu-img convert -c -f raw -O qcow2 -o cluster_size=512 data.raw comp512.qcow2 && '$emuimg' compare comp512.qcow2 data.raw"
check "emu-img reads qemu-img's version 2 image (compat=0.10)" \
    sh -c "qemu-img convert -f raw -O qcow2 -o compat=0.10 data.raw v2.qcow2 && '$emuimg' info v2.qcow2 | grep -q 'compat: 0.10' && '$emuimg' compare v2.qcow2 data.raw && '$emuimg' check v2.qcow2"
check "emu-img reads a three-level chain made by qemu-img and qemu-io" \
    sh -c "qemu-img create -q -f qcow2 -o cluster_size=4096 -b data.raw -F raw l1.qcow2 && qemu-io -c 'write -P 0x11 100k 300k' l1.qcow2 \
        && qemu-img create -q -f qcow2 -b l1.qcow2 -F qcow2 l2.qcow2 && qemu-io -c 'write -z 8M 2M' -c 'write -P 0x22 150k 10k' l2.qcow2 \
        && qemu-img convert -O raw l2.qcow2 chain-qemu.raw && '$emuimg' compare l2.qcow2 chain-qemu.raw \
        && '$emuimg' info --backing-chain l2.qcow2 | grep -c '^image:' | grep -qx 3"
check "emu-img flattens qemu-img's chain into a qcow2 that qemu-img checks and compares clean" \
    sh -c "'$emuimg' convert -O qcow2 l2.qcow2 flat2.qcow2 && qemu-img check flat2.qcow2 && qemu-img compare flat2.qcow2 chain-qemu.raw"

check "emu-img reads an image with an internal snapshot made by qemu-img" \
    sh -c "cp qemu-65536.qcow2 snap.qcow2 && qemu-img snapshot -c s1 snap.qcow2 && qemu-io -c 'write -P 0x77 0 128k' snap.qcow2 \
        && qemu-img convert -O raw snap.qcow2 snap.raw && '$emuimg' compare snap.qcow2 snap.raw"
check "emu-img writes into qemu-img's image (convert -n: data, zero clusters, overwrites); qemu-img checks and compares clean" \
    sh -c "qemu-img create -q -f qcow2 -o cluster_size=4096 into.qcow2 24M && qemu-io -c 'write -P 0x33 0 24M' into.qcow2 \
        && '$emuimg' convert -n -O qcow2 data.raw into.qcow2 && qemu-img check into.qcow2 && qemu-img compare into.qcow2 data.raw"

for bits in 1 64; do
    check "emu-img reads and writes qemu-img's image with $bits-bit refcounts; qemu-img checks clean" \
        sh -c "qemu-img create -q -f qcow2 -o refcount_bits=$bits,cluster_size=4096 rc$bits.qcow2 24M && qemu-io -c 'write -P 0x21 1M 5M' rc$bits.qcow2 \
            && '$emuimg' check rc$bits.qcow2 && '$emuimg' convert -n -O qcow2 data.raw rc$bits.qcow2 && qemu-img check rc$bits.qcow2 \
            && qemu-img compare rc$bits.qcow2 data.raw"
done

# --- check: classification and exit statuses -------------------------------------------------
"$emuimg" create -f qcow2 leak.qcow2 16M > /dev/null
qemu-io -c 'write -P 1 0 256k' leak.qcow2 > /dev/null
# Count the header cluster twice (refcount block at cluster 2 with emu-img's layout).
printf '\x00\x02' | dd of=leak.qcow2 bs=1 seek=$((2 * 65536)) conv=notrunc status=none
check "qemu-img check sees our planted leak (exit 3)" expect_status 3 qemu-img check leak.qcow2
check "emu-img check sees the leak too (exit 3)" expect_status 3 "$emuimg" check leak.qcow2
check "emu-img check -r leaks repairs it (exit 0) and qemu-img agrees" \
    sh -c "'$emuimg' check -r leaks leak.qcow2 && qemu-img check leak.qcow2"
printf '\x00\x00' | dd of=leak.qcow2 bs=1 seek=$((2 * 65536 + 2 * 4)) conv=notrunc status=none
check "a refcount too low is a corruption for qemu-img (exit 2)" expect_status 2 qemu-img check leak.qcow2
check "and for emu-img (exit 2)" expect_status 2 "$emuimg" check leak.qcow2
check "a crash with lazy refcounts (qemu-io abort) leaves a dirty image that emu-img check -r all repairs" \
    sh -c "qemu-img create -q -f qcow2 -o lazy_refcounts=on lazy.qcow2 16M && qemu-io -c 'write -P 0x44 0 3M' -c abort lazy.qcow2; \
        '$emuimg' info lazy.qcow2 | grep -q 'dirty: true' && '$emuimg' check -r all lazy.qcow2 && qemu-img check lazy.qcow2 \
        && qemu-io -c 'read -P 0x44 0 3M' lazy.qcow2 && ! '$emuimg' info lazy.qcow2 | grep -q dirty"
printf 'garbage' > notqcow.img
check "emu-img check of a raw image fails (exit 63)" expect_status 63 "$emuimg" check notqcow.img
head -c 100 ours-65536.qcow2 > short.qcow2
check "emu-img check of a truncated image is an error (exit 1)" expect_status 1 "$emuimg" check short.qcow2

finish_checks
