#!/usr/bin/env bash
# shared/rw_proto.c must build inside a kernel module, warning-free at W=1,
# against the kit's kernel headers ($RW_KIT/headers, made by `make kit`).
set -u
top=${RW_TOP:?}
kit=${RW_KIT:?}
if [ ! -e "$kit/headers/Makefile" ]; then
	echo "FAIL: kernel headers missing: $kit/headers (run make kit)"
	exit 1
fi
"$top/tests/kbuild/check-proto-kbuild" "$kit/headers"
