#!/usr/bin/env bash
# The PC guest (scripts/lib/pc-guest.sh) under qemu-system-x86_64, the reference: the same kernel,
# initramfs, command line and device set as emu-pc. One boot, TCG only: q35, Debian's bzImage and
# the busybox initramfs, a qcow2 scratch disk on virtio-blk-pci, a temporary directory on
# virtio-9p-pci (tag "share"), virtio-rng-pci and a virtio-serial console (hvc0). The guest runs
# its self-check (emu.check=button), then waits; this script presses the ACPI power button
# (QEMU's system_powerdown) and the guest's acpid powers it off. The host then checks the guest's
# results, the share and the disk (scripts/lib/pc-guest-check verify). Prints one line per check
# and "N passed, N failed"; exits non-zero on a failure or when a peer tool is missing.
set -u
repo=$(realpath "$(dirname "$0")/../..")
. "$repo/Tests/Integration/lib/checks.sh"
require_peer qemu-system-x86_64 qemu-system-x86 "the PC guest under QEMU"
require_peer qemu-img qemu-utils "the PC guest under QEMU"
. "$repo/scripts/lib/pc-guest.sh"
pc_guest_prepare || { echo "0 passed, 1 failed"; exit 1; }

work=$(mktemp -d)
qemu=""
cleanup() {
    if [ -n "$qemu" ]; then kill "$qemu" 2>/dev/null; wait "$qemu" 2>/dev/null; fi
    rm -rf "$work"
}
trap cleanup EXIT
check_log="$work/check.log"
"$repo/scripts/lib/pc-guest-check" setup "$work" || { echo "0 passed, 1 failed"; exit 1; }
mkfifo "$work/monitor.in" "$work/monitor.out"
pc_guest_qemu_args "$PC_GUEST_KERNEL" "$PC_GUEST_APPEND quiet emu.check=button" "$work/disk.qcow2" \
    "$work/share" "$work/serial.log" "$work/console.log" "$work/monitor"

start=$(date +%s.%N)
timeout 240 qemu-system-x86_64 "${qemu_args[@]}" < /dev/null > "$work/qemu.out" 2>&1 &
qemu=$!
cat "$work/monitor.out" > /dev/null & # drains the monitor's replies
# Wait for the self-check to finish, then press the power button.
pressed=""
while kill -0 "$qemu" 2>/dev/null; do
    if [ -z "$pressed" ] && grep -aq '^GUEST-WAITING power-button' "$work/console.log" 2>/dev/null; then
        echo system_powerdown > "$work/monitor.in"; pressed=$(date +%s.%N)
    fi
    sleep 0.2
done
wait "$qemu"; qemu_rc=$?; qemu=""
end=$(date +%s.%N)
printf 'guest ran %.1f s (qemu exit %d; kernel %s)\n' "$(awk "BEGIN {print $end - $start}")" "$qemu_rc" "$PC_GUEST_KVER"

check "the guest reached userspace on the serial console (ttyS0)" grep -aq '^GUEST-BOOT userspace' "$work/serial.log"
check "the ACPI power button (system_powerdown) made the guest's acpid power off; QEMU exited 0" \
    bash -c "[ -n '$pressed' ] && grep -aq '^GUEST-RESULT power-button pressed' '$work/console.log' && [ $qemu_rc -eq 0 ]"
"$repo/scripts/lib/pc-guest-check" verify "$work" "$work/console.log" | tee "$work/verify.out" | sed "\$s/^/host-side checker: /"
read -r vp _ vf _ < <(tail -1 "$work/verify.out")
passed=$((passed + ${vp:-0})) failed=$((failed + ${vf:-1}))
if [ "$failed" -ne 0 ]; then
    echo "--- qemu output ---"; cat "$work/qemu.out"
    echo "--- serial (tail) ---"; tail -40 "$work/serial.log"
    echo "--- hvc0 (tail) ---"; tail -60 "$work/console.log"
fi
finish_checks
