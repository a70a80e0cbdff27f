# Building a Linux initramfs from Debian's packages (source it): busybox-static and the installed
# kernel's own modules. Shared by the PC guest (scripts/lib/pc-guest.sh) and the 9P guest test.
#
#   initramfs_missing_tool            prints what is missing (tool and package), or nothing
#   initramfs_find_kernel             sets kver and kernel: the newest /boot/vmlinuz-VERSION whose
#                                     modules include 9p; returns 1 when there is none
#   initramfs_start ROOT              makes the tree and copies the static busybox in
#   initramfs_add_module ROOT KVER M  copies module M (uncompressed) after its dependencies, in
#                                     `modinfo -F depends` order, each once; the load order is
#                                     ROOT/modules.order; returns 1 when a module is missing
#   initramfs_pack ROOT OUT [gzip]    writes the newc cpio archive (gzip -1 when asked)
initramfs_busybox=/bin/busybox # busybox-static's; the dynamic busybox package's would not run in the guest

initramfs_missing_tool() {
    command -v cpio >/dev/null || { echo "cpio (apt-get install cpio)"; return; }
    command -v modinfo >/dev/null || { echo "modinfo (apt-get install kmod)"; return; }
    { [ -x "$initramfs_busybox" ] && ! ldd "$initramfs_busybox" >/dev/null 2>&1; } \
        || echo "a statically linked $initramfs_busybox (apt-get install busybox-static)"
}

initramfs_find_kernel() {
    # The running kernel (uname -r) is not assumed to be the installed one.
    local k v
    kver="" kernel=""
    for k in $(ls /boot/vmlinuz-* 2>/dev/null | sort -V); do
        v=${k#/boot/vmlinuz-}
        [ -d "/lib/modules/$v/kernel/fs/9p" ] && { kver=$v; kernel=$k; }
    done
    [ -n "$kver" ]
}

initramfs_start() {
    mkdir -p "$1"/{bin,dev,proc,sys,mnt,tmp,etc,lib/modules} && cp "$initramfs_busybox" "$1/bin/busybox" \
        && : > "$1/modules.order"
}

initramfs_add_module() {
    local root=$1 kv=$2 m=${3//-/_} d f
    grep -qx "$m" "$root/modules.order" && return 0
    f=$(modinfo -k "$kv" -F filename "$m" 2>/dev/null) || return 1
    for d in $(modinfo -k "$kv" -F depends "$m" | tr ',' ' '); do
        initramfs_add_module "$root" "$kv" "$d" || return 1
    done
    case "$f" in
        *.ko) cp "$f" "$root/lib/modules/$m.ko" ;;
        *.ko.xz) xz -dc "$f" > "$root/lib/modules/$m.ko" ;;
        *.ko.zst) zstd -qdc "$f" > "$root/lib/modules/$m.ko" ;;
        *.ko.gz) gzip -dc "$f" > "$root/lib/modules/$m.ko" ;;
        *) echo "unknown module format: $f" >&2; return 1 ;;
    esac || return 1
    echo "$m" >> "$root/modules.order"
}

initramfs_pack() {
    if [ "${3:-}" = gzip ]; then
        (cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1) > "$2"
    else
        (cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$2"
    fi
}
