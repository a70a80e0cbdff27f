#!/usr/bin/env bash
# Builds every bare-metal test kernel and runs each under every given runner. A kernel passes when
# each runner ends it as the kernel says it must end ("END pass", or "END reset" right after the
# kernel's "EXPECT END reset" line) and every runner's report is identical to the first runner's.
# Lines starting with "arch-only " (checks where the reference runner is known to deviate from the
# SDM, which it skips) are left out of the comparison; every runner still fails on its own FAILs.
# A runner is a command that takes an image and prints the report (see run-qemu.sh and README.md).
# Usage: Tests/BareMetal/run-suite.sh RUNNER...    (e.g. Tests/BareMetal/run-suite.sh Tests/BareMetal/run-qemu.sh)
set -u
[ $# -ge 1 ] || { echo "usage: $0 RUNNER..." >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$here/build.sh" "$work/img" > "$work/build.log" 2>&1 || { cat "$work/build.log"; echo "0 passed, 1 failed (build)"; exit 1; }

passed=0
failed=0
for image in "$work"/img/*.elf; do
    name=$(basename "$image" .elf)
    ok=1
    first=""
    for runner in "$@"; do
        tag=$(basename "$runner")
        report="$work/$name.$tag.report"
        "$runner" "$image" > "$report" 2>&1
        last=$(tail -n 1 "$report")
        before=$(tail -n 2 "$report" | head -n 1)
        if [ "$last" = "END pass" ]; then
            :
        elif [ "$last" = "END reset" ] && [ "$before" = "EXPECT END reset" ]; then
            :
        else
            echo "FAIL $name under $tag: $last"
            grep -E 'FAIL|UNEXPECTED' "$report" | head -10 | sed 's/^/    /'
            ok=0
        fi
        grep -v '^arch-only ' "$report" > "$report.compared"
        if [ -z "$first" ]; then
            first=$report.compared
        elif ! cmp -s "$first" "$report.compared"; then
            echo "FAIL $name: the reports of $(basename "$1") and $tag differ"
            diff "$first" "$report" | head -10 | sed 's/^/    /'
            ok=0
        fi
    done
    if [ $ok = 1 ]; then
        echo "ok   $name ($(grep -c . "$first") report lines)"
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ $failed = 0 ]
