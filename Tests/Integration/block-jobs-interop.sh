#!/usr/bin/env bash
# Interop: emu-img's offline block jobs (commit, stream, mirror: the same job code a running
# machine uses) on backing chains made by qemu-img and filled by qemu-io; results are checked
# with qemu-img compare/check/info (Debian package qemu-utils).
# Usage: Tests/Integration/block-jobs-interop.sh PATH-TO-emu-img
# Prints one line per check and closes with "N passed, N failed"; exits non-zero on a failure
# or when a peer tool is missing (loudly: CI installs them, so it never skips there).
set -u
integration_dir=$(dirname "$(realpath "$0")")
emuimg=$(realpath "${1:?usage: $0 PATH-TO-emu-img}")
. "$integration_dir/lib/checks.sh"
require_peer qemu-img qemu-utils "the block job interop tests"
require_peer qemu-io qemu-utils "the block job interop tests"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# A three-image chain made by qemu-img, each layer written by qemu-io, and its contents saved
# flat (qemu-img convert) as the reference.
make_chain() {
    rm -f base.qcow2 mid.qcow2 top.qcow2 reference.raw
    qemu-img create -q -f qcow2 base.qcow2 16M
    qemu-io -c 'write -P 0x11 0 8M' -c 'write -P 0x12 12M 1M' base.qcow2 >/dev/null
    qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2
    qemu-io -c 'write -P 0x21 2M 3M' -c 'write -z 7M 512k' mid.qcow2 >/dev/null
    qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2
    qemu-io -c 'write -P 0x31 4M 2M' -c 'write -P 0x32 15M 64k' top.qcow2 >/dev/null
    qemu-img convert -O raw top.qcow2 reference.raw
}

make_chain
check "emu-img commit top into mid: qemu-img check of mid is clean" \
    sh -c "'$emuimg' commit top.qcow2 && qemu-img check -q mid.qcow2"
check "after commit, mid (over base) reads as the whole chain did" qemu-img compare -q mid.qcow2 reference.raw
check "after commit, top still reads the same" qemu-img compare -q top.qcow2 reference.raw

make_chain
check "emu-img commit -b base: base reads as the whole chain did" \
    sh -c "'$emuimg' commit -b base.qcow2 top.qcow2 && qemu-img compare -q base.qcow2 reference.raw && qemu-img check -q base.qcow2"

make_chain
check "emu-img stream: top has no backing file afterwards" \
    sh -c "'$emuimg' stream top.qcow2 && ! qemu-img info top.qcow2 | grep -q '^backing file:'"
check "after stream, top alone reads as the chain did, and checks clean" \
    sh -c "rm mid.qcow2 base.qcow2 && qemu-img compare -q top.qcow2 reference.raw && qemu-img check -q top.qcow2"

make_chain
check "emu-img stream -b base: top's backing is base, mid can go" \
    sh -c "'$emuimg' stream -b base.qcow2 top.qcow2 && qemu-img info top.qcow2 | grep -q '^backing file: .*base.qcow2' && rm mid.qcow2 && qemu-img compare -q top.qcow2 reference.raw"

make_chain
qemu-img create -q -f qcow2 copy.qcow2 16M
check "emu-img mirror (full) into a qemu-img image: identical, checks clean" \
    sh -c "'$emuimg' mirror -p top.qcow2 copy.qcow2 && qemu-img compare -q copy.qcow2 reference.raw && qemu-img check -q copy.qcow2"
qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 shallow.qcow2
check "emu-img mirror -s top onto an image with the same backing: identical" \
    sh -c "'$emuimg' mirror -s top top.qcow2 shallow.qcow2 && qemu-img compare -q shallow.qcow2 reference.raw"
check "emu-img commit of an image without backing is refused" \
    sh -c "! '$emuimg' commit base.qcow2 2>err && grep -q 'no backing file' err"

finish_checks
