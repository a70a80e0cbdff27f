#!/usr/bin/env bash
# Interop: diod's 9P2000.L clients (diodls, diodcat; Debian package diod) against emu-9p.
# Usage: Tests/Integration/ninep-diod-clients.sh PATH-TO-emu-9p
# Prints one line per check and closes with "N passed, N failed"; exits non-zero on a failure
# or when a peer tool is missing (loudly: CI installs them, so it never skips there).
set -u
integration_dir=$(dirname "$(realpath "$0")")
emu9p=${1:?usage: $0 PATH-TO-emu-9p}
for tool in diodls diodcat; do
    if ! command -v "$tool" >/dev/null && [ ! -x "/usr/sbin/$tool" ]; then
        echo "MISSING PEER: $tool (apt-get install diod); the 9P interop tests cannot run" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
done
export PATH="$PATH:/usr/sbin"

work=$(mktemp -d)
export_dir="$work/export"
mkdir -p "$export_dir/sub" "$work/outside"
echo "hello from the export" > "$export_dir/hello.txt"
head -c 3000000 /dev/urandom > "$export_dir/big.bin"
echo "secret" > "$work/outside/secret"
ln -s "$work/outside/secret" "$export_dir/absolute-escape"
ln -s ../outside/secret "$export_dir/relative-escape"
mkfifo "$export_dir/fifo"
for i in $(seq 1 500); do : > "$export_dir/sub/file-$i"; done

port=$((20000 + RANDOM % 20000))
"$emu9p" --listen "tcp:127.0.0.1:$port" --export "$export_dir" > "$work/server.log" 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
    grep -q serving "$work/server.log" 2>/dev/null && break
    sleep 0.05
done

check_log="$work/out"
. "$integration_dir/lib/checks.sh"
s="127.0.0.1:$port"
check "diodls lists the root" bash -c "diodls -s $s -a any / | grep -qx hello.txt"
check "diodls -l stats every entry" bash -c "diodls -s $s -a any -l / | grep -q 'big.bin'"
check "diodls lists 500 entries of a directory" bash -c "[ \$(diodls -s $s -a any /sub | grep -c '^file-') -eq 500 ]"
check "diodcat reads a small file" bash -c "diodcat -s $s -a any hello.txt | grep -qx 'hello from the export'"
check "diodcat reads 3 MB identically (msize 64 KiB)" bash -c "diodcat -s $s -a any big.bin | cmp -s - $export_dir/big.bin"
check "diodcat reads 3 MB identically (msize 1 MiB)" bash -c "diodcat -s $s -a any -m 1048576 big.bin | cmp -s - $export_dir/big.bin"
check "an absolute symlink out of the export is not followed" bash -c "! diodcat -s $s -a any absolute-escape | grep -q secret"
check "a relative symlink out of the export is not followed" bash -c "! diodcat -s $s -a any relative-escape | grep -q secret"
check "a '..' chain stays in the export" bash -c "! diodcat -s $s -a any ../outside/secret | grep -q secret"
check "a FIFO is not opened (and nothing hangs)" bash -c "! timeout 10 diodcat -s $s -a any fifo"
check "the server is still serving" bash -c "diodcat -s $s -a any hello.txt | grep -q hello"
kill -INT "$server"
for _ in $(seq 1 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.05; done
check "SIGINT stops the server cleanly" bash -c "! kill -0 $server 2>/dev/null && grep -q stopped $work/server.log"

finish_checks
