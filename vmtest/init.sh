#!/bin/busybox sh
# /init of the vmtest initramfs (copied there by vmtest/run.sh). Runs as PID 1
# under busybox: sets the machine up like a minimal root system, runs every
# test binary once per probe mode and prints the results between markers on
# the console (ttyS0), where the host reads them. Then powers off.
# shellcheck disable=SC3045,SC1091,SC2154 # busybox ulimit; files made by run.sh

/bin/busybox --install -s
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root USER=root LOGNAME=root TMPDIR=/tmp LANG=C.UTF-8 TERM=dumb

mount -t devtmpfs -o mode=0755 devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=0620,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null ||
	mount -t tracefs tracefs /sys/kernel/debug/tracing
mount -t bpf -o mode=0700 bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr

# Warnings and worse (and oops/lockup details, printed at the default
# level) reach the console while tests run, so that a VM that hangs still
# shows why; err/warn lines from boot are in the dmesg dump at the end.
echo "5 4 1 7" >/proc/sys/kernel/printk
hostname iotrace-vm
ip link set lo up
ulimit -l unlimited
ulimit -n 65536
ulimit -c 0

. /etc/vmtest.conf

if [ "$SHELL_MODE" = 1 ]; then
	echo "vmtest shell: binaries in /opt/vmtest/*/, plan in /etc/vmtest.conf; 'poweroff -f' to leave"
	setsid cttyhack sh -l
	poweroff -f
fi

uptime_s() { cut -d' ' -f1 /proc/uptime; }
elapsed() { awk -v a="$1" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }'; }
yesno() { if [ -e "$1" ]; then echo yes; else echo no; fi; }

t_start=$(uptime_s)
echo "IOTRACE-VMTEST-BOOTED uptime=$t_start"
nfuncs=$(wc -l </sys/kernel/tracing/available_filter_functions 2>/dev/null || echo 0)
echo "IOTRACE-VMTEST-INFO kernel=$(uname -r) cpus=$(nproc) btf=$(yesno /sys/kernel/btf/vmlinux)" \
	"tracefs=$(yesno /sys/kernel/tracing/events) kprobe_events=$(yesno /sys/kernel/tracing/kprobe_events)" \
	"ftrace_funcs=$nfuncs uptime_at_init=${t_start}s"

i=0
while [ "$i" -lt "$NBIN" ]; do
	mkdir -p "/tmp/vmtest-work/$i"
	i=$((i + 1))
done

for mode in $MODES; do
	echo "IOTRACE-VMTEST-BEGIN mode=$mode"
	t0=$(uptime_s)
	mode_rc=0
	i=0
	while [ "$i" -lt "$NBIN" ]; do
		eval "bin=\$BIN_$i name=\$NAME_$i args=\$ARGS_$i"
		echo "IOTRACE-VMTEST-BIN mode=$mode bin=$name"
		# The watchdog runs in the background; the test in the foreground,
		# so that it starts with default SIGINT/SIGQUIT dispositions (an
		# asynchronous command in sh starts with both ignored).
		rm -f /run/vmtest.pid
		(
			sleep "$RUN_TIMEOUT"
			pid=$(cat /run/vmtest.pid 2>/dev/null)
			echo "IOTRACE-VMTEST-TIMEOUT mode=$mode bin=$name after ${RUN_TIMEOUT}s: SIGQUIT"
			[ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null
			sleep 10
			[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
		) &
		watchdog=$!
		(
			cd "/tmp/vmtest-work/$i" || exit 125
			export IOTRACE_PROBE_MODE="$mode" IOTRACE_CI=1 IOTRACE_VM=1
			. /etc/vmtest.env
			eval "set -- $args"
			exec sh -c 'echo $$ >/run/vmtest.pid; exec "$@"' vmtest "$bin" "$@"
		) </dev/null 2>&1
		rc=$?
		kill "$watchdog" 2>/dev/null
		wait "$watchdog" 2>/dev/null
		echo
		echo "IOTRACE-VMTEST-BINEND mode=$mode bin=$name rc=$rc"
		[ "$rc" -ne 0 ] && mode_rc=$rc
		i=$((i + 1))
	done
	echo "IOTRACE-VMTEST-END mode=$mode rc=$mode_rc secs=$(elapsed "$t0")"
done

echo "IOTRACE-VMTEST-DMESG-BEGIN"
dmesg -r | grep -E '^<[0-4]>' | sed 's/^<[0-9]>//'
echo "IOTRACE-VMTEST-DMESG-END"
echo "IOTRACE-VMTEST-DONE tests_secs=$(elapsed "$t_start")"
sync
poweroff -f
