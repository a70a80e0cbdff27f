# The PC guest (source it): a small Linux assembled from Debian's packages when it is needed, into
# a cache directory, and the way to run it under qemu-system-x86_64.
#
#   pc_guest_prepare [CACHE]   builds (or reuses) the guest in CACHE (default: .build/pc-guest in
#                              the repository) and sets PC_GUEST_KERNEL (Debian's bzImage, used in
#                              place), PC_GUEST_INITRD, PC_GUEST_KVER. Rebuilt when the installed
#                              kernel, busybox or the guest's files change. Returns 1 with the
#                              missing piece on stderr ("MISSING PEER: ...").
#   pc_guest_vmlinux           sets PC_GUEST_VMLINUX: the kernel's xz payload decompressed on the
#                              host (an ELF with a PVH entry note), cached beside the initramfs
#   pc_guest_qemu_args ...     fills the array qemu_args with the reference machine (below)
#
# The guest: the kernel from linux-image-amd64; an uncompressed initramfs of busybox-static, the
# kernel's virtio-pci, virtio-blk, 9p-over-virtio, virtio-console, virtio-rng, evdev and ACPI
# button modules (dependencies first) and the files in scripts/lib/pc-guest/ (its /init,
# self-check, bench and the power-button action for busybox acpid).
#
# PC_GUEST_APPEND is the kernel command line for our PC and QEMU alike: the 8250 console from the
# first line (console=ttyS0, earlyprintk=serial), a panic ends the machine (panic=-1; with
# QEMU's -no-reboot or emu-pc's --no-reboot it stops instead of restarting), and no PS/2 mouse
# or multiplexer probing (i8042.noaux i8042.nomux i8042.dumbkbd). Add "emu.check" for the
# self-check, "emu.check=button" to wait for the power button after it, "emu.bench" for the
# throughput workload, "emu.console=ttyS0" to keep the guest's own lines on the serial port.
PC_GUEST_APPEND="console=ttyS0 earlyprintk=serial panic=-1 i8042.noaux i8042.nomux i8042.dumbkbd"
pc_guest_lib_dir=$(dirname "${BASH_SOURCE[0]}")
. "$pc_guest_lib_dir/initramfs.sh"
pc_guest_modules="virtio_pci virtio_blk 9pnet_virtio 9p virtio_console virtio_rng evdev button"

pc_guest_prepare() {
    local cache=${1:-$(realpath "$pc_guest_lib_dir/../..")/.build/pc-guest} tool stamp root f
    tool=$(initramfs_missing_tool)
    [ -z "$tool" ] || { echo "MISSING PEER: $tool" >&2; return 1; }
    initramfs_find_kernel || {
        echo "MISSING PEER: a kernel in /boot with 9p modules (apt-get install linux-image-amd64)" >&2
        return 1
    }
    [ -r "$kernel" ] || { echo "MISSING PEER: read access to $kernel (run as root)" >&2; return 1; }
    PC_GUEST_KERNEL=$kernel PC_GUEST_KVER=$kver PC_GUEST_INITRD=$cache/initrd.cpio
    mkdir -p "$cache" || return 1
    stamp=$( { echo "$kver"; stat -c '%s %Y' "$kernel" "$initramfs_busybox"; echo "$pc_guest_modules";
               cat "$pc_guest_lib_dir/pc-guest.sh" "$pc_guest_lib_dir/initramfs.sh" "$pc_guest_lib_dir"/pc-guest/*; } \
             | sha256sum | cut -d' ' -f1)
    [ -f "$PC_GUEST_INITRD" ] && [ "$(cat "$cache/stamp" 2>/dev/null)" = "$stamp" ] && return 0
    echo "pc-guest: assembling the guest for $kver in $cache" >&2
    root=$(mktemp -d "$cache/root.XXXXXX") || return 1
    (
        set -e
        initramfs_start "$root"
        for m in $pc_guest_modules; do
            initramfs_add_module "$root" "$kver" "$m" \
                || { echo "MISSING PEER: kernel module $m for $kver (apt-get install linux-image-amd64)" >&2; exit 1; }
        done
        for f in init self-check bench; do install -m 755 "$pc_guest_lib_dir/pc-guest/$f" "$root/$f"; done
        install -D -m 755 "$pc_guest_lib_dir/pc-guest/power-button" "$root/etc/acpi/PWRF/00000080"
        initramfs_pack "$root" "$root.cpio"
        mv "$root.cpio" "$PC_GUEST_INITRD" # atomic: a concurrent run sees the old or the new one
        rm -f "$cache/vmlinux"
        echo "$stamp" > "$cache/stamp"
    ) || { rm -rf "$root" "$root.cpio"; return 1; }
    rm -rf "$root" "$root.cpio"
}

pc_guest_vmlinux() {
    # The setup header: setup_sects at 0x1F1 (0 means 4), payload_offset and payload_length
    # (little-endian 32-bit) at 0x248 and 0x24C; the payload follows the setup sectors and ends
    # with the decompressed size (4 bytes) after the xz stream.
    local cache; cache=$(dirname "$PC_GUEST_INITRD")
    PC_GUEST_VMLINUX=$cache/vmlinux
    [ -s "$PC_GUEST_VMLINUX" ] && return 0
    local sects off len new="$PC_GUEST_VMLINUX.$$"
    sects=$(od -An -tu1 -j $((0x1F1)) -N1 "$PC_GUEST_KERNEL" | tr -d ' ')
    [ "$sects" = 0 ] && sects=4
    off=$(od -An -tu4 -j $((0x248)) -N4 "$PC_GUEST_KERNEL" | tr -d ' ')
    len=$(od -An -tu4 -j $((0x24C)) -N4 "$PC_GUEST_KERNEL" | tr -d ' ')
    tail -c +$(( (sects + 1) * 512 + off + 1 )) "$PC_GUEST_KERNEL" | head -c "$len" | xz -dc --single-stream > "$new" \
        && [ "$(head -c 4 "$new" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] \
        && mv "$new" "$PC_GUEST_VMLINUX" \
        || { rm -f "$new"; echo "could not decompress the payload of $PC_GUEST_KERNEL" >&2; return 1; }
}

# pc_guest_qemu_args KERNEL APPEND DISK SHARE SERIAL-FILE CONSOLE-FILE [MONITOR-PIPE]
# The reference machine, the device set of our PC: q35 (its ECAM at 0xB0000000 with MCFG, the
# ICH9 PM block at 0x600 and reset register 0xCF9 are the ones our PC's ACPI tables describe),
# TCG only, one CPU, 256 MiB, no default devices, and on PCI, modern-only virtio with MSI-X:
# virtio-blk (qcow2), virtio-9p (tag "share", local, security_model=none), virtio-rng and
# virtio-serial with a console (hvc0). The 16550 at 0x3F8 goes to SERIAL-FILE, hvc0 to
# CONSOLE-FILE (either may be a FIFO); a MONITOR-PIPE (FIFOs PIPE.in/PIPE.out) takes monitor
# commands such as system_powerdown (the ACPI power button).
pc_guest_qemu_args() {
    local kernel=$1 append=$2 disk=$3 share=$4 serial=$5 console=$6 monitor=${7:-}
    qemu_args=(-machine q35,accel=tcg -cpu max -smp 1 -m 256 -nodefaults -no-user-config
        -display none -no-reboot
        -kernel "$kernel" -initrd "$PC_GUEST_INITRD" -append "$append"
        -chardev "file,id=ser0,path=$serial" -serial chardev:ser0
        -drive "file=$disk,format=qcow2,if=none,id=disk0"
        -device virtio-blk-pci,drive=disk0,disable-legacy=on
        -fsdev "local,id=fs0,path=$share,security_model=none"
        -device virtio-9p-pci,fsdev=fs0,mount_tag=share,disable-legacy=on
        -object rng-random,id=rng0,filename=/dev/urandom
        -device virtio-rng-pci,rng=rng0,disable-legacy=on
        -device virtio-serial-pci,disable-legacy=on
        -chardev "file,id=hvc0,path=$console" -device virtconsole,chardev=hvc0)
    if [ -n "$monitor" ]; then qemu_args+=(-monitor "pipe:$monitor"); else qemu_args+=(-monitor none); fi
}
