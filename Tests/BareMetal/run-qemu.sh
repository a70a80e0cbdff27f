#!/usr/bin/env bash
# Runs one bare-metal test kernel under qemu-system-x86_64 (TCG) and prints its report: the lines
# the kernel wrote to the debug console (port 0xE9), then one line the runner adds, "END pass",
# "END fail", "END reset" (the machine reset or powered off: a triple fault under -no-reboot) or
# "END timeout". Exit status: 0 pass, 1 fail, 2 reset, 3 timeout, 4 anything else.
#
# The machine: `pc` (i440FX), one CPU, 128 MiB, the pinned CPU model below, -no-reboot, no
# default devices; the kernel is loaded by QEMU's Multiboot loader (-kernel). isa-debug-exit at
# 0xF4 turns the kernel's write of V into QEMU's exit status (V << 1) | 1. The command line
# "arch-only=skip" tells the kernels not to run the checks where QEMU 7.2's TCG is known to
# deviate from the SDM (their lines start with "arch-only "; see README.md).
# Usage: Tests/BareMetal/run-qemu.sh IMAGE [TIMEOUT-SECONDS]
set -u
image=${1:?usage: $0 IMAGE [TIMEOUT-SECONDS]}
limit=${2:-20}
qemu=${QEMU:-qemu-system-x86_64}
command -v "$qemu" >/dev/null || { echo "MISSING PEER: $qemu (apt-get install qemu-system-x86)" >&2; exit 4; }

# The CPU the reports are pinned to: qemu64 plus what our CPU advertises (SSE up to SSE4.2, POPCNT,
# PAT, PGE, PSE, NX, 1 GiB pages, RDTSCP, ARAT, the hypervisor bit, basic leaves up to 0x16) with
# Intel's vendor string; no AVX, no
# XSAVE, no LA57, no PCID, no SMEP/SMAP, no x2APIC. TSC-deadline, invariant TSC and
# ARCH_CAPABILITIES are left out: QEMU 7.2's TCG cannot advertise them (it warns and drops them).
cpu=${QEMU_CPU:-qemu64,vendor=GenuineIntel,level=22,+hypervisor,+ssse3,+sse4.1,+sse4.2,+popcnt,+pdpe1gb,+rdtscp,+arat,-x2apic,-xsave,-avx,-pcid,-smep,-smap,-la57}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
timeout --kill-after=5 "$limit" "$qemu" -machine pc -accel tcg -cpu "$cpu" -smp 1 -m 128M \
    -nodefaults -nographic -no-reboot -monitor none -serial null \
    -chardev file,id=dbg,path="$work/report" -device isa-debugcon,iobase=0xe9,chardev=dbg \
    -device isa-debug-exit,iobase=0xf4,iosize=4 \
    -kernel "$image" -append "arch-only=skip" > "$work/qemu.out" 2>&1
status=$?
cat "$work/report" 2>/dev/null
case $status in
    33) echo "END pass"; exit 0 ;;
    35) echo "END fail"; exit 1 ;;
    0) echo "END reset"; exit 2 ;;
    124|137) echo "END timeout"; exit 3 ;;
    *) echo "END qemu-status-$status"; sed 's/^/qemu: /' "$work/qemu.out" | head -5; exit 4 ;;
esac
