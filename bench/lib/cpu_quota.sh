#!/bin/sh
# bench/lib/cpu_quota.sh CGROUP_DIR COMMAND...: runs COMMAND inside the cgroup whose CPU
# quota common.sh set (SERVER_CPU_QUOTA), so the server and every process it forks share
# that quota. exec keeps the pid, so the caller's $! is still the server.
echo $$ >"$1/cgroup.procs" || exit 1
shift
exec "$@"
