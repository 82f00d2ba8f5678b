#!/usr/bin/env bash
# vmtest/run.sh: run static Go test binaries as root inside a Debian kernel
# booted under qemu, once per probe mode, and decide pass/fail on the host.
#
# Usage: vmtest/run.sh [options] -- TESTBIN [ARGS...] [-- TESTBIN2 [ARGS...]]...
# Run `vmtest/run.sh --help` for the options. Exit status: 0 every mode
# passed, 1 a mode failed or did not finish, 2 usage error, 3 the VM could
# not be prepared or did not boot.

set -euo pipefail

PROG=vmtest/run.sh
VMTEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
	cat <<'EOF'
Usage: vmtest/run.sh [options] -- TESTBIN [ARGS...] [-- TESTBIN2 [ARGS...]]...

Boots a Debian kernel under qemu with a busybox initramfs holding the test
binaries and, for each probe mode, runs every TESTBIN with ARGS as root with
  IOTRACE_PROBE_MODE=<mode> IOTRACE_CI=1 IOTRACE_VM=1
All modes run in one boot. TESTBIN must be static: build it with
  CGO_ENABLED=0 go test -c -o X.test ./some/pkg
A further `--` starts another test binary (so ARGS cannot contain `--`).

Options (environment variable in brackets):
  --kernel K[,K...]   kernel(s) to boot, one boot each [IOTRACE_VM_KERNEL, default 6.1]
                        6.1, 6.1-cloud, 6.1-rt, 6.12, 6.12-cloud, 6.12-rt:
                          newest such Debian package that apt-cache lists
                        linux-image-...: that exact Debian package
                        a path to a bzImage/vmlinuz file
  --modes M[,M...]    probe modes [IOTRACE_VM_MODES, default fentry,kprobe,tracepoint]
  --env K=V           extra environment for the tests (repeatable)
  --add SRC[:DST]     copy a host file into the VM (default DST /usr/local/bin/NAME)
  --timeout S         whole run per kernel, boot included [IOTRACE_VM_TIMEOUT, 600]
  --boot-timeout S    until the init script starts [IOTRACE_VM_BOOT_TIMEOUT, 120]
  --run-timeout S     per test binary and mode; then SIGQUIT (goroutine dump),
                      SIGKILL 10 s later [IOTRACE_VM_RUN_TIMEOUT, 300]
  --accel A           tcg, kvm or auto (kvm if /dev/kvm works, else tcg)
                      [IOTRACE_VM_ACCEL, default tcg: nested KVM hangs on some hosts]
  --mem MB, --smp N   guest memory and CPUs [1024, 2]
  --tcg-thread T      single or multi: TCG's host threads [IOTRACE_VM_TCG_THREAD,
                      default single: multi livelocks on cross-CPU code patching]
  --append ARGS       extra kernel command line
  --no-pvh            boot the compressed bzImage as a bootloader would, not the
                      uncompressed vmlinux through its PVH entry, which skips
                      the slow in-guest decompression (about 2.5 s under TCG)
                      [IOTRACE_VM_PVH=0]; without PVH support it falls back
  --shell             boot into an interactive busybox shell instead (debugging)
  -v, --verbose       stream the whole console while it runs
  -h, --help          this text

Cache [IOTRACE_VM_CACHE, default ~/.cache/iotrace-vm]: kernel .debs, the
extracted vmlinuz/config per package, and the console log of recent runs
(logs/). Show lines: failing output is cut to its last IOTRACE_VM_SHOW_LINES
lines (default 400); the full log path is printed.
EOF
}

die() { echo "$PROG: $*" >&2; exit 3; }
usage_err() { echo "$PROG: $*" >&2; echo "try: $PROG --help" >&2; exit 2; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

CACHE=${IOTRACE_VM_CACHE:-$HOME/.cache/iotrace-vm}
KERNELS=${IOTRACE_VM_KERNEL:-6.1}
MODES=${IOTRACE_VM_MODES:-fentry,kprobe,tracepoint}
TIMEOUT=${IOTRACE_VM_TIMEOUT:-600}
BOOT_TIMEOUT=${IOTRACE_VM_BOOT_TIMEOUT:-120}
RUN_TIMEOUT=${IOTRACE_VM_RUN_TIMEOUT:-300}
ACCEL=${IOTRACE_VM_ACCEL:-tcg}
TCG_THREAD=${IOTRACE_VM_TCG_THREAD:-single}
SHOW_LINES=${IOTRACE_VM_SHOW_LINES:-400}
MEM=1024
SMP=2
APPEND=""
PVH=${IOTRACE_VM_PVH:-1}
VERBOSE=0
SHELL_MODE=0
ENVS=()
ADDS=()

# ---------------------------------------------------------------- arguments
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) KERNELS=${2:?}; shift 2 ;;
	--kernel=*) KERNELS=${1#*=}; shift ;;
	--modes) MODES=${2:?}; shift 2 ;;
	--modes=*) MODES=${1#*=}; shift ;;
	--env) ENVS+=("${2:?}"); shift 2 ;;
	--env=*) ENVS+=("${1#*=}"); shift ;;
	--add) ADDS+=("${2:?}"); shift 2 ;;
	--add=*) ADDS+=("${1#*=}"); shift ;;
	--timeout) TIMEOUT=${2:?}; shift 2 ;;
	--boot-timeout) BOOT_TIMEOUT=${2:?}; shift 2 ;;
	--run-timeout) RUN_TIMEOUT=${2:?}; shift 2 ;;
	--accel) ACCEL=${2:?}; shift 2 ;;
	--mem) MEM=${2:?}; shift 2 ;;
	--smp) SMP=${2:?}; shift 2 ;;
	--tcg-thread) TCG_THREAD=${2:?}; shift 2 ;;
	--append) APPEND=${2:?}; shift 2 ;;
	--no-pvh) PVH=0; shift ;;
	--shell) SHELL_MODE=1; shift ;;
	-v | --verbose) VERBOSE=1; shift ;;
	-h | --help) usage; exit 0 ;;
	--) shift; break ;;
	*) usage_err "unknown option: $1" ;;
	esac
done

# Test binaries: BIN_PATH[i], BIN_ARGS[i] (a quoted sh word list).
BIN_PATH=()
BIN_ARGS=()
sq() { # quote for sh: 'it'\''s'
	local s=${1//\'/\'\\\'\'}
	printf "'%s'" "$s"
}
is_static() {
	local out
	out=$(LC_ALL=C ldd "$1" 2>&1 || true)
	[[ $out == *"not a dynamic executable"* || $out == *"statically linked"* ]]
}
cur=-1
for a in "$@"; do
	if [ "$a" = -- ] || [ $cur -lt 0 ]; then
		[ "$a" = -- ] && { cur=$((cur + 1)); BIN_PATH[cur]=""; BIN_ARGS[cur]=""; continue; }
		cur=0; BIN_PATH[0]=""; BIN_ARGS[0]=""
	fi
	if [ -z "${BIN_PATH[cur]}" ]; then
		BIN_PATH[cur]=$a
	else
		BIN_ARGS[cur]+=" $(sq "$a")"
	fi
done
if [ $SHELL_MODE = 0 ] && [ ${#BIN_PATH[@]} = 0 ]; then
	usage_err "no test binary given (… -- TESTBIN [ARGS])"
fi
for i in "${!BIN_PATH[@]}"; do
	b=${BIN_PATH[i]}
	[ -n "$b" ] || usage_err "empty test binary after --"
	[ -f "$b" ] || usage_err "test binary not found: $b"
	if ! is_static "$b"; then
		usage_err "$b is not a static executable: build it with CGO_ENABLED=0 go test -c"
	fi
	BIN_PATH[i]=$(readlink -f "$b")
done
IFS=, read -r -a MODE_LIST <<<"$MODES"
[ ${#MODE_LIST[@]} -gt 0 ] || usage_err "no modes"
for m in "${MODE_LIST[@]}"; do
	[[ $m =~ ^[A-Za-z0-9_.-]+$ ]] || usage_err "bad mode name: '$m'"
done
for e in "${ENVS[@]}"; do
	[[ $e =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || usage_err "--env wants K=V, got '$e'"
done
for n in "$TIMEOUT" "$BOOT_TIMEOUT" "$RUN_TIMEOUT" "$MEM" "$SMP" "$SHOW_LINES"; do
	[[ $n =~ ^[0-9]+$ ]] || usage_err "not a number: $n"
done
case $ACCEL in tcg | kvm | auto) ;; *) usage_err "--accel: tcg, kvm or auto" ;; esac
case $TCG_THREAD in single | multi) ;; *) usage_err "--tcg-thread: single or multi" ;; esac

# ------------------------------------------------------------- host tools
apt_install() {
	[ "$(id -u)" = 0 ] || die "missing packages: $* (run: sudo apt-get install -y $*)"
	echo "$PROG: installing $*" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2 ||
		{ apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2; } ||
		die "apt-get install $* failed"
}
BUSYBOX=""
find_busybox() {
	local b
	for b in /bin/busybox /usr/bin/busybox; do
		if [ -x "$b" ] && is_static "$b"; then
			BUSYBOX=$b
			return 0
		fi
	done
	return 1
}
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v cpio >/dev/null || need+=(cpio)
command -v gzip >/dev/null || need+=(gzip)
command -v flock >/dev/null || need+=(util-linux)
find_busybox || need+=(busybox-static)
[ ${#need[@]} = 0 ] || apt_install "${need[@]}"
[ -n "$BUSYBOX" ] || find_busybox || die "no static busybox after installing busybox-static"

mkdir -p "$CACHE/debs" "$CACHE/kernels" "$CACHE/logs"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/iotrace-vm.XXXXXX")
QEMU_PID=""
kill_qemu() {
	if [ -s "$WORK/qemu.pid" ]; then kill "$(cat "$WORK/qemu.pid")" 2>/dev/null || true; fi
	if [ -n "$QEMU_PID" ]; then kill "$QEMU_PID" 2>/dev/null || true; fi
}
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	set +e
	kill_qemu
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- kernels
# resolve_kernel K: sets KPKG (package or file name) and KDIR (the cache
# directory with vmlinuz and config), downloading and extracting the package
# when it is not cached yet.
apt_newest() { # regex → newest matching package name
	apt-cache pkgnames linux-image- 2>/dev/null | grep -E "$1" | sort -V | tail -n1
}
newest_file() { # glob pattern... → the newest (version order) existing one
	local f
	for f in "$@"; do [ -e "$f" ] && printf '%s\n' "$f"; done | sort -V | tail -n1
}
apt_download() { # pkg dir
	(cd "$2" && apt-get download -q "$1" >&2) && return 0
	[ "$(id -u)" = 0 ] || return 1
	apt-get update -q >&2 && (cd "$2" && apt-get download -q "$1" >&2)
}
# extract_vmlinux DIR: DIR/vmlinuz → DIR/vmlinux (uncompressed ELF) when the
# kernel has a PVH entry (CONFIG_PVH) and a decompressor is at hand, else
# nothing. qemu boots such an ELF directly through its PVH entry point.
extract_vmlinux() {
	local d=$1 m pat off
	[ -s "$d/vmlinux" ] && return 0
	if [ -f "$d/config" ] && ! grep -q '^CONFIG_PVH=y' "$d/config"; then return 0; fi
	for m in xz zstd lz4 gzip; do
		command -v "$m" >/dev/null || continue
		case $m in
		xz) pat=$'\xfd7zXZ' ;;
		zstd) pat=$'\x28\xb5\x2f\xfd' ;;
		lz4) pat=$'\x02\x21\x4c\x18' ;;
		gzip) pat=$'\x1f\x8b\x08' ;;
		esac
		for off in $(LC_ALL=C grep -aboF "$pat" "$d/vmlinuz" | cut -d: -f1 | head -n 3); do
			case $m in
			xz) tail -c +$((off + 1)) "$d/vmlinuz" | xz -dcq --single-stream ;;
			*) tail -c +$((off + 1)) "$d/vmlinuz" | "$m" -dcq ;;
			esac >"$d/vmlinux.tmp" 2>/dev/null
			if [ "$(head -c 4 "$d/vmlinux.tmp")" = $'\x7fELF' ]; then
				mv "$d/vmlinux.tmp" "$d/vmlinux"
				return 0
			fi
		done
	done
	rm -f "$d/vmlinux.tmp"
}

resolve_kernel() {
	local k=$1 re="" pkg="" deb tmp t0
	if [[ $k == */* ]] || { [ -f "$k" ] && [[ $k != linux-image-* ]]; }; then
		[ -f "$k" ] || die "kernel image not found: $k"
		KPKG=$(basename "$k")
		KDIR=$WORK/kernel
		mkdir -p "$KDIR"
		if [ "$(head -c 4 "$k")" = $'\x7fELF' ]; then
			cp "$k" "$KDIR/vmlinux" # already uncompressed: PVH or nothing
			cp "$k" "$KDIR/vmlinuz"
		else
			cp "$k" "$KDIR/vmlinuz"
			[ "$PVH" = 0 ] || extract_vmlinux "$KDIR"
		fi
		return
	fi
	case $k in
	6.1) re='^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
	6.1-cloud) re='^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' ;;
	6.1-rt) re='^linux-image-6\.1\.0-[0-9]+-rt-amd64$' ;;
	6.12) re='^linux-image-6\.12\.[0-9]+\+deb12-amd64$' ;;
	6.12-cloud) re='^linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64$' ;;
	6.12-rt) re='^linux-image-6\.12\.[0-9]+\+deb12-rt-amd64$' ;;
	linux-image-*) pkg=$k ;;
	*) usage_err "unknown kernel '$k' (6.1, 6.12, a linux-image-... package or a file)" ;;
	esac
	if [ -n "$re" ]; then
		pkg=$(apt_newest "$re")
		if [ -z "$pkg" ] && [ "$(id -u)" = 0 ]; then
			apt-get update -q >&2 || true
			pkg=$(apt_newest "$re")
		fi
		if [ -z "$pkg" ]; then # offline: the newest cached one
			pkg=$(newest_file "$CACHE"/kernels/linux-image-*)
			pkg=$(basename "${pkg:-none}")
			[[ $pkg =~ $re ]] || die "apt-cache lists no package like $re and none is cached"
			echo "$PROG: apt-cache lists no $re; using cached $pkg" >&2
		fi
	fi
	KPKG=$pkg
	KDIR=$CACHE/kernels/$pkg
	if [ -s "$KDIR/vmlinuz" ] && { [ "$PVH" = 0 ] || [ -e "$KDIR/vmlinux" ] || [ -e "$KDIR/no-pvh" ]; }; then
		return
	fi
	exec 9>"$CACHE/.lock"
	flock 9 # another run may be downloading the same kernel
	if [ ! -s "$KDIR/vmlinuz" ]; then
		t0=$(now)
		tmp=$(mktemp -d "$CACHE/dl.XXXXXX")
		deb=$(newest_file "$CACHE/debs/${pkg}_"*.deb)
		if [ -z "$deb" ]; then
			echo "$PROG: downloading $pkg" >&2
			apt_download "$pkg" "$tmp" || { rm -rf "$tmp"; die "apt-get download $pkg failed"; }
			mv "$tmp"/*.deb "$CACHE/debs/" || die "apt-get download left no .deb"
			deb=$(newest_file "$CACHE/debs/${pkg}_"*.deb)
		fi
		dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards './boot/*' ||
			{ rm -rf "$tmp"; die "cannot extract $deb"; }
		rm -rf "$KDIR.new"
		mkdir -p "$KDIR.new"
		cp "$tmp"/boot/vmlinuz-* "$KDIR.new/vmlinuz" || die "no boot/vmlinuz-* in $deb"
		cp "$tmp"/boot/config-* "$KDIR.new/config" 2>/dev/null || true
		basename "$deb" >"$KDIR.new/deb"
		rm -rf "$tmp" "$KDIR"
		mv "$KDIR.new" "$KDIR"
		echo "$PROG: $pkg ready in $(secs "$t0" "$(now)") s (cached in $KDIR)" >&2
	fi
	if [ "$PVH" != 0 ] && [ ! -e "$KDIR/vmlinux" ] && [ ! -e "$KDIR/no-pvh" ]; then
		extract_vmlinux "$KDIR"
		[ -e "$KDIR/vmlinux" ] || echo "no uncompressed vmlinux could be made" >"$KDIR/no-pvh"
	fi
	flock -u 9
}

# --------------------------------------------------------------- initramfs

build_initramfs() {
	local root=$WORK/root i name dst src
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,dev,proc,sys,tmp,run,root,etc,opt/vmtest}
	cp "$BUSYBOX" "$root/bin/busybox"
	cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
	cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
	printf '127.0.0.1\tlocalhost iotrace-vm\n::1\tlocalhost ip6-localhost\n' >"$root/etc/hosts"
	echo 'hosts: files dns' >"$root/etc/nsswitch.conf"
	: >"$root/etc/resolv.conf"

	for i in "${!BIN_PATH[@]}"; do
		mkdir -p "$root/opt/vmtest/$i"
		cp "${BIN_PATH[i]}" "$root/opt/vmtest/$i/"
	done
	for a in "${ADDS[@]}"; do
		src=${a%%:*}
		if [[ $a == *:* ]]; then dst=${a#*:}; else dst=/usr/local/bin/$(basename "$src"); fi
		[ -e "$src" ] || die "--add: not found: $src"
		mkdir -p "$root$(dirname "$dst")"
		cp -a "$src" "$root$dst"
	done

	# The plan: sh-quoted, read by /init.
	{
		echo "MODES='${MODE_LIST[*]}'"
		echo "RUN_TIMEOUT=$RUN_TIMEOUT"
		echo "SHELL_MODE=$SHELL_MODE"
		echo "NBIN=${#BIN_PATH[@]}"
		for i in "${!BIN_PATH[@]}"; do
			name=$(basename "${BIN_PATH[i]}")
			echo "BIN_$i=$(sq "/opt/vmtest/$i/$name")"
			echo "NAME_$i=$(sq "$name")"
			printf 'ARGS_%s=%s\n' "$i" "$(sq "${BIN_ARGS[i]}")"
		done
	} >"$root/etc/vmtest.conf"
	for e in "${ENVS[@]}"; do echo "export $(sq "$e")"; done >"$root/etc/vmtest.env"
	install -m 0755 "$VMTEST_DIR/init.sh" "$root/init"

	(cd "$root" && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc --quiet -R 0:0) | gzip -1 >"$WORK/initrd.gz"
}

# -------------------------------------------------------------------- boot
# progress ELAPSED: with --verbose, copies the console bytes not shown yet
# (boot's $shown is a byte offset); else prints the mode events not shown
# yet (boot's $shown counts them).
progress() {
	local ev size
	if [ $VERBOSE = 1 ]; then
		size=$(stat -c %s "$LOG")
		if [ "$size" -gt "$shown" ]; then
			tail -c +$((shown + 1)) "$LOG" | head -c $((size - shown)) | tr -d '\r'
			shown=$size
		fi
		return 0
	fi
	ev=$(grep -ao 'IOTRACE-VMTEST-\(BEGIN\|END\|TIMEOUT\) mode=[^ ]*\( rc=[0-9]*\| bin=[^ ]*\)\?' "$LOG" || true)
	[ -n "$ev" ] || return 0
	echo "$ev" | tail -n +$((shown + 1)) | while read -r kind m rest; do
		case ${kind#IOTRACE-VMTEST-} in
		BEGIN) echo "  [$1 s] ${m#mode=}: running" ;;
		END) echo "  [$1 s] ${m#mode=}: finished, ${rest:-?}" ;;
		TIMEOUT) echo "  [$1 s] ${m#mode=}: ${rest#bin=} timed out after $RUN_TIMEOUT s, sending SIGQUIT" ;;
		esac
	done
	shown=$(echo "$ev" | wc -l)
}

# boot ACCEL BOOT_TIMEOUT: runs qemu with the console to $LOG; returns 0 when
# the VM powered off, 10 when /init did not start in time, 11 on the overall
# timeout, 12 when qemu ended before /init started. Sets BOOT_SECS and
# TOTAL_SECS.
boot() {
	local accel=$1 boot_to=$2 t0 booted="" st cpu shown=0
	: >"$LOG"
	cpu=max
	[ "$accel" = kvm ] && cpu=host
	local accel_opt=$accel
	# Multi-threaded TCG livelocks here when the guest patches its own code
	# on one vCPU while another runs it (text_poke_bp: both CPUs stuck in
	# syscall_trace_enter, soft lockups, seen with attach/detach of BPF
	# programs); one host thread for all vCPUs keeps 2 guest CPUs and their
	# IPIs without that race.
	[ "$accel" = tcg ] && accel_opt=tcg,thread=$TCG_THREAD
	local cmd=(qemu-system-x86_64 -accel "$accel_opt" -cpu "$cpu" -m "$MEM" -smp "$SMP"
		-nodefaults -display none -no-reboot -nic none
		-serial "file:$LOG"
		-kernel "$KIMAGE" -initrd "$WORK/initrd.gz"
		-append "console=ttyS0 quiet loglevel=4 panic=-1 mitigations=off $APPEND")
	if [ $SHELL_MODE = 1 ]; then
		cmd=("${cmd[@]/file:$LOG/mon:stdio}")
		"${cmd[@]}" || true
		return 0
	fi
	t0=$(now)
	rm -f "$WORK/qemu.pid"
	# In a subshell, so that a crashing qemu is reported in qemu.out; under
	# timeout(1) in case this script is killed without its traps running.
	(timeout -k 5 $((TIMEOUT + 60)) "${cmd[@]}" -pidfile "$WORK/qemu.pid" || exit) \
		</dev/null >"$WORK/qemu.out" 2>&1 &
	QEMU_PID=$!
	BOOT_SECS="" TOTAL_SECS=""
	st=0
	while kill -0 "$QEMU_PID" 2>/dev/null; do
		local el; el=$(secs "$t0" "$(now)")
		if [ -z "$booted" ]; then
			if grep -q 'IOTRACE-VMTEST-BOOTED' "$LOG"; then
				booted=1
				BOOT_SECS=$el
				[ $VERBOSE = 1 ] || echo "  booted in $BOOT_SECS s ($accel)"
			elif awk -v e="$el" -v m="$boot_to" 'BEGIN { exit !(e > m) }'; then
				st=10
				break
			fi
		fi
		if [ -n "$booted" ] || [ $VERBOSE = 1 ]; then progress "$el"; fi
		if awk -v e="$el" -v m="$TIMEOUT" 'BEGIN { exit !(e > m) }'; then
			st=11
			break
		fi
		sleep 0.2
	done
	if [ $st != 0 ]; then
		kill_qemu
	elif [ -z "$booted" ] && ! grep -q 'IOTRACE-VMTEST-BOOTED' "$LOG"; then
		st=12 # qemu (or the kernel) stopped before /init ran
	fi
	wait "$QEMU_PID" 2>/dev/null || true
	QEMU_PID=""
	rm -f "$WORK/qemu.pid"
	TOTAL_SECS=$(secs "$t0" "$(now)")
	progress "$TOTAL_SECS"
	return $st
}

kvm_usable() { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }

# ----------------------------------------------------------------- results
show_tail() { # file, label
	SHOWN_OUTPUT=1
	echo "---- $2 (last $SHOW_LINES lines; full log: $SAVED_LOG) ----"
	tail -n "$SHOW_LINES" "$1"
	echo "---- end of $2 ----"
}

# report: parses $CLEAN; prints one line per mode; returns 1 on any failure.
report() {
	local fail=0 m sec rc secs_m n_pass n_fail n_skip what
	for m in "${MODE_LIST[@]}"; do
		sec=$WORK/mode-$m.log
		awk -v m="$m" '
			index($0, "IOTRACE-VMTEST-BEGIN mode=" m " ") || $0 ~ ("IOTRACE-VMTEST-BEGIN mode=" m "$") { on = 1 }
			on { print }
			index($0, "IOTRACE-VMTEST-END mode=" m " ") { on = 0 }
		' "$CLEAN" >"$sec"
		if ! grep -q "IOTRACE-VMTEST-BEGIN mode=$m\b" "$sec"; then
			echo "$m: FAIL (never started: the VM stopped before this mode)"
			fail=1
			continue
		fi
		local end
		end=$(grep -o "IOTRACE-VMTEST-END mode=$m rc=[0-9]* secs=[0-9.]*" "$sec" | tail -n1 || true)
		n_pass=$(grep -c '^--- PASS: ' "$sec" || true)
		n_fail=$(grep -c '^--- FAIL: ' "$sec" || true)
		n_skip=$(grep -c '^--- SKIP: ' "$sec" || true)
		if [ -z "$end" ]; then
			echo "$m: FAIL (no END marker: the VM died or hung in this mode; $n_pass passed so far)"
			show_tail "$sec" "$m output"
			fail=1
			continue
		fi
		rc=${end#*rc=}; rc=${rc%% *}
		secs_m=${end##*secs=}
		if grep -q '^=== RUN ' "$sec"; then
			what="$n_pass test$([ "$n_pass" = 1 ] || echo s)"
			[ "$n_skip" != 0 ] && what+=", $n_skip skipped"
			[ "$n_fail" != 0 ] && what+=", $n_fail failed"
		else
			what="no -test.v: test count unknown"
		fi
		grep -q 'IOTRACE-VMTEST-TIMEOUT' "$sec" && what+=", TIMED OUT after $RUN_TIMEOUT s"
		if [ "$rc" = 0 ] && [ "$n_fail" = 0 ]; then
			grep -q '^testing: warning: no tests to run' "$sec" && what+=", WARNING: a binary ran no tests"
			echo "$m: PASS ($what) in $secs_m s"
		else
			echo "$m: FAIL (rc=$rc, $what) in $secs_m s"
			fail=1
		fi
	done
	for m in "${MODE_LIST[@]}"; do
		sec=$WORK/mode-$m.log
		[ -s "$sec" ] || continue
		if ! grep -q "IOTRACE-VMTEST-END mode=$m rc=0 " "$sec" || grep -q '^--- FAIL: ' "$sec"; then
			grep -q "IOTRACE-VMTEST-END mode=$m " "$sec" && show_tail "$sec" "$m output"
		fi
	done
	return $fail
}

run_kernel() { # K → 0 pass, 1 fail, 3 infra
	local k=$1 st=0 accel=$ACCEL
	resolve_kernel "$k"
	echo "== $KPKG: modes ${MODE_LIST[*]}, ${#BIN_PATH[@]} test binar$([ ${#BIN_PATH[@]} = 1 ] && echo y || echo ies)"
	LOG=$WORK/console.log
	CLEAN=$WORK/console.clean
	SAVED_LOG=$CACHE/logs/$(date +%Y%m%d-%H%M%S)-$KPKG.log
	if [ "$accel" = auto ]; then
		if kvm_usable; then accel=kvm; else accel=tcg; fi
	fi
	KIMAGE=$KDIR/vmlinuz BOOTED_AS=bzImage
	if [ "$PVH" != 0 ] && [ -s "$KDIR/vmlinux" ]; then
		KIMAGE=$KDIR/vmlinux BOOTED_AS=pvh
	fi
	local bt=$BOOT_TIMEOUT
	if [ "$ACCEL" = auto ] && [ "$accel" = kvm ] && [ "$bt" -gt 20 ]; then
		bt=20 # a healthy KVM guest reaches /init in a few seconds
	fi
	boot "$accel" "$bt" || st=$?
	if { [ $st = 10 ] || [ $st = 12 ]; } && [ "$ACCEL" = auto ] && [ "$accel" = kvm ]; then
		echo "  KVM did not reach /init ($([ $st = 10 ] && echo "none in $bt s" || echo "qemu: $(tail -n1 "$WORK/qemu.out")")); falling back to TCG"
		accel=tcg
		st=0
		boot "$accel" "$BOOT_TIMEOUT" || st=$?
	fi
	if [ $st = 12 ] && [ $BOOTED_AS = pvh ] && [ ! -s "$LOG" ]; then
		echo "  no output from the PVH boot ($(tail -n1 "$WORK/qemu.out")); booting the bzImage"
		KIMAGE=$KDIR/vmlinuz BOOTED_AS=bzImage
		st=0
		boot "$accel" "$bt" || st=$?
	fi
	tr -d '\r' <"$LOG" >"$CLEAN"
	cp "$CLEAN" "$SAVED_LOG"
	find "$CACHE/logs" -name '*.log' -printf '%T@ %p\n' | sort -rn | tail -n +31 | cut -d' ' -f2- | xargs -r rm -f --
	case $st in
	10 | 12)
		if [ $st = 10 ]; then
			echo "FAIL: the VM did not reach /init within $bt s ($accel)"
		else
			echo "FAIL: qemu stopped before /init ran ($accel)"
		fi
		cat "$WORK/qemu.out"
		SHOW_LINES=60 show_tail "$CLEAN" "console"
		return 3
		;;
	11) echo "FAIL: the VM did not finish within $TIMEOUT s ($accel); killed" ;;
	esac
	if [ $st = 0 ] && ! grep -q 'IOTRACE-VMTEST-DONE' "$CLEAN"; then
		echo "FAIL: the VM stopped before the end of the run ($accel)"
		st=12
	fi
	local info
	info=$(grep -o 'IOTRACE-VMTEST-INFO .*' "$CLEAN" | head -n1 | sed 's/IOTRACE-VMTEST-INFO //' || true)
	[ -n "$info" ] && echo "  guest: $info"
	local rep=0
	SHOWN_OUTPUT=0
	report || rep=$?
	if grep -qE '^\[ *[0-9.]+\] (BUG:|Oops|Kernel panic|general protection fault)' "$CLEAN"; then
		echo "FAIL: the kernel reported a BUG/Oops/panic:"
		grep -E -A25 '(BUG:|Oops|Kernel panic|general protection fault)' "$CLEAN" | head -n 60
		rep=1
	fi
	if grep -q 'IOTRACE-VMTEST-DMESG-BEGIN' "$CLEAN"; then
		local warn
		warn=$(sed -n '/IOTRACE-VMTEST-DMESG-BEGIN/,/IOTRACE-VMTEST-DMESG-END/p' "$CLEAN" | grep -E 'WARNING:|BUG:|Oops|Call Trace' || true)
		[ -n "$warn" ] && { echo "  kernel warnings (dmesg):"; echo "$warn" | head -n 20 | sed 's/^/    /'; }
	fi
	if [ $st != 0 ]; then
		[ "$SHOWN_OUTPUT" = 1 ] || SHOW_LINES=60 show_tail "$CLEAN" "console"
		rep=1
	fi
	local tsecs
	tsecs=$(grep -o 'IOTRACE-VMTEST-DONE tests_secs=[0-9.]*' "$CLEAN" | sed 's/.*=//' || true)
	echo "  time: boot ${BOOT_SECS:-?} s, tests ${tsecs:-?} s, total ${TOTAL_SECS} s (qemu $accel, $BOOTED_AS); log $SAVED_LOG"
	return $rep
}

# -------------------------------------------------------------------- main
build_initramfs
IFS=, read -r -a KERNEL_LIST <<<"$KERNELS"
if [ $SHELL_MODE = 1 ]; then
	resolve_kernel "${KERNEL_LIST[0]}"
	KIMAGE=$KDIR/vmlinuz
	[ "$PVH" != 0 ] && [ -s "$KDIR/vmlinux" ] && KIMAGE=$KDIR/vmlinux
	LOG=/dev/null
	boot "$([ "$ACCEL" = kvm ] && echo kvm || echo tcg)" 0
	exit 0
fi
overall=0
T0=$(now)
for k in "${KERNEL_LIST[@]}"; do
	r=0
	run_kernel "$k" || r=$?
	if [ $r -gt $overall ]; then overall=$r; fi
done
if [ ${#KERNEL_LIST[@]} -gt 1 ]; then
	echo "== all kernels: $([ $overall = 0 ] && echo PASS || echo FAIL) in $(secs "$T0" "$(now)") s"
fi
exit $overall
