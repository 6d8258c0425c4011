#!/usr/bin/env bash
# tests/vm/run.sh - run a host-built binary inside a real Linux kernel under qemu, and return
# its exit status. For the tests that need what the host kernel lacks (ESP, ESP-in-UDP, L2TP,
# PPP): the guest runs Debian's stock kernel (linux-image-amd64, with esp4/esp6/xfrm_user as
# modules), booted straight from its uncompressed vmlinux (PVH entry) under TCG, with a tiny
# busybox initramfs that loads the modules, mounts the HOST's root filesystem read-only over
# 9p and chroots into it. So any host binary (a cargo test binary, the daemon, iproute2,
# strongSwan) runs unchanged in the guest at the same path; /tmp, /run, /var/tmp and /root are
# fresh tmpfs in the guest (but the top directory of the binary, the working directory and
# CARGO_TARGET_DIR are shared read-write when they live there), and the guest has no network
# interface but lo.
#
#   tests/vm/run.sh [options] BINARY [ARGS...]
#     --timeout SEC   kill the guest after SEC seconds (default 300); exit 124
#     --mem MB        guest memory (default 768)
#     --smp N         guest CPUs (default 2)
#     --share DIR     host directory mounted read-write at the same path (repeatable)
#     --env NAME      pass this environment variable into the guest (repeatable; RUST_BACKTRACE,
#                     RUST_LOG and RUST_TEST_THREADS always are)
#     --rebuild       rebuild the initramfs
#   Exit status: the binary's; 124 on timeout; 125 if no status came back (boot failure,
#   guest panic). The guest sees IKEV1_VM=1 and the caller's working directory.
#
# Cache: $IKEV1_VM_CACHE (default /var/tmp/ikev1-vm): the kernel package (fetched with
# `apt-get download`, unpacked, never installed), vmlinux, initramfs. Host packages:
# tests/vm/apt-packages.txt.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${IKEV1_VM_CACHE:-/var/tmp/ikev1-vm}
TIMEOUT=300 MEM=768 SMP=2 REBUILD=0
SHARES=() ENVS=(RUST_BACKTRACE RUST_LOG RUST_TEST_THREADS)

usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) TIMEOUT=$2; shift ;;
    --mem) MEM=$2; shift ;;
    --smp) SMP=$2; shift ;;
    --share) SHARES+=("$(realpath "$2")"); shift ;;
    --env) ENVS+=("$2"); shift ;;
    --rebuild) REBUILD=1 ;;
    -h|--help) usage ;;
    --) shift; break ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
[ $# -ge 1 ] || usage
BIN=$(realpath "$1"); shift
[ -x "$BIN" ] || { echo "run.sh: $BIN is not executable" >&2; exit 2; }

# The guest mounts fresh tmpfs over these (guest-init.sh). A binary, checkout or target dir
# living below one of them (a CI clone in /tmp or /root, say) would vanish in the guest: share
# its top directory there, at the same path.
masked_top() { # masked_top PATH -> /tmp/x for /tmp/x/..., nothing if PATH is not masked
  local p m rest
  p=$(realpath -m "$1")
  for m in /tmp /run /var/tmp /root /dev/shm; do
    case "$p" in
      "$m"/*) rest=${p#"$m"/}; echo "$m/${rest%%/*}"; return ;;
    esac
  done
}
for p in "$BIN" "$PWD" "${CARGO_TARGET_DIR:-}" "${CARGO_MANIFEST_DIR:-}"; do
  [ -n "$p" ] || continue
  top=$(masked_top "$p")
  [ -n "$top" ] && [ -d "$top" ] || continue
  case " ${SHARES[*]} " in *" $top "*) ;; *) SHARES+=("$top") ;; esac
done
for tool in qemu-system-x86_64 busybox cpio depmod xz dpkg-deb apt-get; do
  command -v "$tool" >/dev/null || {
    echo "run.sh: $tool missing; install: $(grep -v '^#' "$HERE/apt-packages.txt" | xargs)" >&2
    exit 2
  }
done
BUSYBOX=$(command -v busybox)
if ldd "$BUSYBOX" >/dev/null 2>&1; then
  echo "run.sh: $BUSYBOX is dynamically linked; the initramfs needs busybox-static" >&2
  exit 2
fi

mkdir -p "$CACHE"
log() { echo "vm: $*" >&2; }

# ------------------------------------------------------------------ kernel + initramfs ----
# Built once under a lock (parallel runs share the cache).
build() {
  local kdir=$CACHE/kernel
  if [ ! -d "$kdir/boot" ]; then
    local pkg
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    if [ -z "$pkg" ]; then
      log "apt lists are empty: apt-get update"
      apt-get update -qq >&2
      pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    fi
    [ -n "$pkg" ] || { log "cannot resolve linux-image-amd64"; exit 2; }
    log "fetching $pkg"
    rm -rf "$CACHE/dl" && mkdir -p "$CACHE/dl"
    (cd "$CACHE/dl" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2)
    rm -rf "$kdir.tmp" && mkdir -p "$kdir.tmp"
    dpkg-deb -x "$CACHE"/dl/*.deb "$kdir.tmp"
    rm -rf "$CACHE/dl"
    mv "$kdir.tmp" "$kdir"
    REBUILD=1
  fi
  local kver
  kver=$(ls "$kdir/lib/modules" | head -n1)
  [ -f "$kdir/lib/modules/$kver/modules.dep" ] || depmod -b "$kdir" "$kver"

  # The uncompressed ELF vmlinux boots through its PVH entry: no in-guest decompression
  # (about 2.5 s less under TCG). It is the xz stream inside the bzImage.
  if [ ! -s "$CACHE/vmlinux" ]; then
    local vmlinuz=$kdir/boot/vmlinuz-$kver off
    off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -n1 | cut -d: -f1)
    # xz complains about the bzImage's trailing bytes after the stream: ignore its status.
    tail -c +$((off + 1)) "$vmlinuz" | xz -dcq > "$CACHE/vmlinux.tmp" 2>/dev/null || true
    if [ "$(head -c4 "$CACHE/vmlinux.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
      mv "$CACHE/vmlinux.tmp" "$CACHE/vmlinux"
    else
      log "no ELF vmlinux inside $vmlinuz: booting the bzImage"
      rm -f "$CACHE/vmlinux.tmp"; cp "$vmlinuz" "$CACHE/vmlinux"
    fi
  fi

  local initrd=$CACHE/initramfs.cpio.gz
  if [ "$REBUILD" = 1 ] || [ ! -s "$initrd" ] || [ "$0" -nt "$initrd" ] \
     || [ "$HERE/guest-init.sh" -nt "$initrd" ]; then
    log "building initramfs for $kver"
    local r=$CACHE/initroot
    rm -rf "$r"
    mkdir -p "$r"/{bin,sbin,etc,proc,sys,dev,host,lib/modules/"$kver"}
    cp "$BUSYBOX" "$r/bin/busybox"
    for a in $("$BUSYBOX" --list); do [ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"; done
    ln -s ../bin/busybox "$r/sbin/modprobe"
    # Modules: whole subsystems (so that the kernel's on-demand loading through modprobe and
    # modules.alias finds them: crypto-cbc(aes), xfrm-type-2-50, rtnl-link-veth, ...) plus the
    # dependency closure of each, from the package's modules.dep.
    local dirs="kernel/crypto/ kernel/arch/x86/crypto/ kernel/lib/ kernel/net/xfrm/ kernel/net/ipv4/
      kernel/net/ipv6/ kernel/net/key/ kernel/net/9p/ kernel/fs/9p/ kernel/fs/netfs/ kernel/fs/fscache/
      kernel/drivers/virtio/ kernel/net/l2tp/ kernel/drivers/net/ppp/ kernel/net/netfilter/
      kernel/net/packet/ kernel/net/sched/"
    local mods="veth dummy tun"
    awk -v dirs="$dirs" -v mods="$mods" '
      BEGIN { nd = split(dirs, D, " "); nm = split(mods, M, " "); for (i = 1; i <= nm; i++) want[M[i]] = 1 }
      { key = $1; sub(":$", "", key); base = key; sub(".*/", "", base); sub("[.]ko.*$", "", base)
        sel = (base in want); for (i = 1; i <= nd; i++) if (index(key, D[i]) == 1) sel = 1
        if (sel) { print key; for (j = 2; j <= NF; j++) print $j } }' \
      "$kdir/lib/modules/$kver/modules.dep" | sort -u | while read -r rel; do
        mkdir -p "$r/lib/modules/$kver/$(dirname "$rel")"
        cp "$kdir/lib/modules/$kver/$rel" "$r/lib/modules/$kver/$rel"
      done
    cp "$kdir/lib/modules/$kver"/modules.{builtin,builtin.modinfo,order} "$r/lib/modules/$kver/"
    depmod -b "$r" "$kver"
    cp "$HERE/guest-init.sh" "$r/init"
    chmod +x "$r/init"
    (cd "$r" && find . | cpio -o -H newc --quiet | gzip -1) > "$initrd.tmp"
    mv "$initrd.tmp" "$initrd"
    rm -rf "$r"
    log "initramfs $(du -h "$initrd" | cut -f1)"
  fi
}
exec 9>"$CACHE/lock"
flock 9
build
flock -u 9

# ------------------------------------------------------------------------------- run ----
RUN=$(mktemp -d "${TMPDIR:-/tmp}/ikev1-vm-run.XXXXXX")
cleanup() { rm -rf "$RUN"; }
trap cleanup EXIT
{
  echo '#!/bin/bash'
  printf 'cd %q 2>/dev/null || cd /\n' "$PWD"
  echo 'export IKEV1_VM=1 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root'
  for e in "${ENVS[@]}"; do
    if [ -n "${!e+x}" ]; then printf 'export %s=%q\n' "$e" "${!e}"; fi
  done
  printf 'exec %q' "$BIN"
  for a in "$@"; do printf ' %q' "$a"; done
  echo
} > "$RUN/cmd"
chmod +x "$RUN/cmd"
: > "$RUN/shares"
i=0
QSHARES=()
for d in "${SHARES[@]}"; do
  QSHARES+=(-virtfs "local,path=$d,mount_tag=s$i,security_model=none,multidevs=remap")
  echo "s$i $d" >> "$RUN/shares"
  i=$((i + 1))
done

# TCG: /dev/kvm on these machines is a paravirtual stub that stock kernels do not boot on.
QEMU=(qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot
  -machine pc -accel tcg -cpu max -smp "$SMP" -m "$MEM"
  -kernel "$CACHE/vmlinux" -initrd "$CACHE/initramfs.cpio.gz"
  -serial stdio
  -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
  -virtfs "local,path=$RUN,mount_tag=run,security_model=none,multidevs=remap"
  "${QSHARES[@]}"
  -append "console=ttyS0 rdinit=/init quiet loglevel=3 panic=-1 oops=panic")
t0=$(date +%s.%N)
set +e
timeout --kill-after=5 "$TIMEOUT" "${QEMU[@]}" </dev/null
qrc=$?
set -e
t1=$(date +%s.%N)
secs=$(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
  log "timeout after ${TIMEOUT}s"
  exit 124
fi
if [ ! -s "$RUN/rc" ]; then
  log "no exit status from the guest after ${secs}s (qemu status $qrc)"
  exit 125
fi
rc=$(cat "$RUN/rc")
log "guest exit $rc, ${secs}s wall (boot $(cat "$RUN/boot" 2>/dev/null || echo '?')s guest uptime)"
exit "$rc"
