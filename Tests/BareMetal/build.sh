#!/usr/bin/env bash
# Builds every bare-metal test kernel (kernels/*.c, *.S) and the hostile-guest images
# (hostile/) into OUTDIR with the host's gcc and binutils (Debian: gcc, binutils; no multilib).
# The C code is compiled as x86-64 (-m64) and linked at 1 MiB with runtime/link.ld; the result is
# converted to an ELF32 (objcopy -O elf32-i386) so that Multiboot v1 loaders (QEMU's -kernel)
# accept it. The 32-bit entry code lives in the same image (.code32 in runtime/entry.S).
# Usage: Tests/BareMetal/build.sh OUTDIR
set -euo pipefail
out=${1:?usage: $0 OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
for tool in gcc ld objcopy; do
    command -v $tool >/dev/null || { echo "MISSING PEER: $tool (apt-get install gcc binutils)" >&2; exit 1; }
done

cflags=(-m64 -O2 -std=gnu11 -Wall -Wextra -Werror -ffreestanding -fno-pic -fno-pie -fno-stack-protector
    -fno-asynchronous-unwind-tables -fno-omit-frame-pointer -mno-red-zone -mgeneral-regs-only
    -fcf-protection=none -I "$here/runtime")
ldflags=(-nostdlib -static -no-pie -Wl,--build-id=none -Wl,-z,max-page-size=4096 -Wl,-z,noexecstack
    -Wl,--no-warn-rwx-segments -T "$here/runtime/link.ld")

obj="$out/obj"
mkdir -p "$obj"
gcc "${cflags[@]}" -c "$here/runtime/entry.S" -o "$obj/entry.o"
gcc "${cflags[@]}" -c "$here/runtime/runtime.c" -o "$obj/runtime.o"

# link OUTFILE RUNTIME(yes|no) SOURCES...: one kernel image (ELF32, Multiboot v1), with or
# without the runtime (entry, IDT, printing).
link() {
    local target=$1 with_runtime=$2
    shift 2
    local name objs=()
    name=$(basename "$target" .elf)
    for src in "$@"; do
        local o="$obj/$name-$(basename "$src").o"
        gcc "${cflags[@]}" -c "$src" -o "$o"
        objs+=("$o")
    done
    [ "$with_runtime" = yes ] && objs=("$obj/entry.o" "$obj/runtime.o" "${objs[@]}")
    gcc "${cflags[@]}" "${ldflags[@]}" -o "$obj/$name.elf64" "${objs[@]}"
    objcopy -O elf32-i386 "$obj/$name.elf64" "$target"
}

# The test kernels: kernels/NAME.c (plus kernels/NAME.S when present) with the runtime.
for src in "$here"/kernels/*.c; do
    name=$(basename "$src" .c)
    extra=()
    [ -f "$here/kernels/$name.S" ] && extra=("$here/kernels/$name.S")
    link "$out/$name.elf" yes "$src" "${extra[@]}"
done

# The hostile guests (built, not run by run-suite.sh; see README.md): OUTDIR/hostile/.
mkdir -p "$out/hostile"
gcc -O2 -o "$obj/gen-random" "$here/hostile/gen-random.c"
"$obj/gen-random" 65536 > "$out/hostile/random-raw.bin"
"$obj/gen-random" 16384 0x5EED > "$obj/random-code.bin"
cflags+=(-DRANDOM_BIN="\"$obj/random-code.bin\"")
link "$out/hostile/random-code.elf" no "$here/hostile/random-code.S"
link "$out/hostile/null-far-jump.elf" no "$here/hostile/null-far-jump.S"
for src in "$here"/hostile/*.c; do
    name=$(basename "$src" .c)
    [ "$name" = gen-random ] && continue
    link "$out/hostile/$name.elf" yes "$src"
done
echo "build: $(ls "$out"/*.elf | wc -l) kernels in $out, $(ls "$out"/hostile | wc -l) hostile images in $out/hostile"
