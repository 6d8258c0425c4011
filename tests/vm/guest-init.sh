#!/bin/busybox sh
# /init of the guest initramfs built by tests/vm/run.sh: load modules, mount the host's root
# (read-only, 9p) and the run directory, run the command chrooted into the host root, write
# its exit status back, power off.
export PATH=/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo /sbin/modprobe > /proc/sys/kernel/modprobe
# 9p first; then what ESP needs before the first SA (drbg/seqiv/echainiv for the IV
# generators, the AEAD and authenc templates); the rest loads on demand.
for m in virtio_pci 9pnet_virtio 9p xfrm_user esp4 esp6 veth drbg jitterentropy_rng seqiv \
         echainiv authenc gcm ghash_generic aesni_intel ppp_generic ppp_synctty ppp_async l2tp_ppp; do
  modprobe "$m" 2>/dev/null || true
done
ip link set lo up 2>/dev/null || busybox ip link set lo up
opts=trans=virtio,version=9p2000.L,msize=524288
mount -t 9p -o "$opts,ro,cache=loose" hostroot /host || { echo "vm: cannot mount host root"; poweroff -f; }
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t devtmpfs dev /host/dev
for d in /tmp /run /var/tmp /root /dev/shm; do mount -t tmpfs -o mode=1777 tmpfs /host$d 2>/dev/null; done
mkdir -p /host/run/vm
mount -t 9p -o "$opts" run /host/run/vm || { echo "vm: cannot mount run dir"; poweroff -f; }
mkdir -p /host/run/netns /host/run/lock
while read -r tag dir; do
  # A share below a guest tmpfs (/tmp, /root, ...) needs its mount point made there first;
  # elsewhere it exists already in the read-only host root.
  mkdir -p "/host$dir" 2>/dev/null
  mount -t 9p -o "$opts" "$tag" "/host$dir" || echo "vm: cannot mount share $dir"
done < /host/run/vm/shares
cut -d' ' -f1 /proc/uptime > /host/run/vm/boot
chroot /host /run/vm/cmd </dev/console >/dev/console 2>&1
rc=$?
echo "$rc" > /host/run/vm/rc
sync
poweroff -f
