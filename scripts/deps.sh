#!/usr/bin/env bash
# Installs what the tests need beyond gcc and make, only when it is missing.
set -u
need=()
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
command -v clang >/dev/null || need+=(clang)
# The style check is pinned to the clang-format the code was formatted with: other
# versions format a few constructs differently (tests/blackbox/test_format.sh).
command -v clang-format-14 >/dev/null || need+=(clang-format-14)
command -v timeout >/dev/null || need+=(coreutils)
command -v wrk >/dev/null || need+=(wrk)
# The ustack tests with Linux as the peer (tests/blackbox/test_ustack_*.py): ip and tc,
# ping, wget, ab, and scapy for Debian's own python3 (the crafted segments).
command -v tc >/dev/null || need+=(iproute2)
command -v ping >/dev/null || need+=(iputils-ping)
command -v wget >/dev/null || need+=(wget)
command -v ab >/dev/null || need+=(apache2-utils)
/usr/bin/python3 -c "import scapy" 2>/dev/null || need+=(python3-scapy)
[ -e /usr/include/zlib.h ] || need+=(zlib1g-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
pkg-config --exists openssl 2>/dev/null || need+=(libssl-dev)
command -v openssl >/dev/null || need+=(openssl)
command -v testssl >/dev/null || need+=(testssl.sh)
[ -e /usr/lib/x86_64-linux-gnu/libasan.so.8 ] || need+=(libasan8)
[ -e /usr/lib/x86_64-linux-gnu/libtsan.so.2 ] || need+=(libtsan2)
[ -e /usr/lib/x86_64-linux-gnu/libubsan.so.1 ] || need+=(libubsan1)
if [ ${#need[@]} -gt 0 ]; then
    echo "deps: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || echo "deps: apt-get failed for ${need[*]}" >&2
fi
exit 0
