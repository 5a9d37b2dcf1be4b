#!/usr/bin/env bash
# The kit and the extractor name what is wrong: an unknown kernel flavor,
# a corrupt kernel image, a missing one.
set -u
top=${RW_TOP:?}
rw=$top/build/rel/bin/ringwatch
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

out=$("$top/scripts/mkkit" no-such-flavor "$tmp/kit" 2>&1) && fail "mkkit accepted an unknown flavor"
echo "$out" | grep -q "linux-image-no-such-flavor" || fail "mkkit error does not name the package: $out"
[ ! -e "$tmp/kit/.stamp" ] || fail "mkkit left a stamp for a failed kit"

head -c 100000 /dev/urandom > "$tmp/vmlinuz"
out=$("$rw" extract-vmlinux "$tmp/vmlinuz" "$tmp/vmlinux" 2>&1) && fail "corrupt image accepted"
echo "$out" | grep -q "$tmp/vmlinuz" || fail "error does not name the image: $out"
[ ! -e "$tmp/vmlinux" ] || fail "a failed extraction left an output file"

# A truncated real kernel is corrupt too.
head -c 3000000 "$RW_KIT/vmlinuz" > "$tmp/truncated"
out=$("$rw" extract-vmlinux "$tmp/truncated" "$tmp/vmlinux" 2>&1) && fail "truncated image accepted"
echo "extract-vmlinux on a truncated image: $out"

out=$("$rw" extract-vmlinux "$tmp/missing" "$tmp/vmlinux" 2>&1) && fail "missing image accepted"
echo "$out" | grep -q "$tmp/missing" || fail "error does not name the missing image: $out"

out=$("$rw" run demo --kit "$tmp/nokit" --exit 2>&1)
rc=$?
[ "$rc" -eq 2 ] || fail "run with a missing kit exited $rc, want 2: $out"
echo "$out" | grep -q "$tmp/nokit/vmlinuz" || fail "run error does not name the kernel: $out"

out=$("$rw" run 2>&1); [ $? -eq 2 ] || fail "run without a name should be a usage error"
out=$("$rw" run demo --cpus many 2>&1); [ $? -eq 2 ] || fail "--cpus many accepted"
echo "$out" | grep -q -- "--cpus 'many'" || fail "bad --cpus not named: $out"
out=$("$rw" frobnicate 2>&1); [ $? -eq 2 ] || fail "unknown command accepted"
echo "ok"
