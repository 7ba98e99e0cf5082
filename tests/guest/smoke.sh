#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Inside the test guest: the guest works as a test host for what the host
# cannot do.  Soft-RoCE comes up and carries an RDMA CM connection (rping);
# vofirm-memd, a client and a vofirm-fs mount work there too.
. /vofirm/lib.sh

step "Soft-RoCE: rxe0 on dummy0"
setup_rxe
ibv_devinfo -d rxe0 | grep -E 'hca_id|state:|link_layer'

step "an RDMA CM connection over rxe0 (rping, 5 round trips, data verified)"
rping -s -a $RXE_ADDR -C 5 >/tmp/rping-s.log 2>&1 &
sleep 1
rping -c -a $RXE_ADDR -C 5 -V -v >/tmp/rping-c.log 2>&1 || { cat /tmp/rping-*.log; fail "rping failed"; }
n=$(grep -c 'ping data' /tmp/rping-c.log || true)
[ "$n" = 5 ] || { cat /tmp/rping-c.log; fail "rping did $n of 5 round trips"; }
echo "rping: $n verified round trips"

step "vofirm-memd and a client inside the guest"
start_memd m --listen tcp://127.0.0.1:0 --donate 64M --slab-size 4M --no-auth
vofirm-xtest --server tcp://127.0.0.1:$PORT rw --slabs 4 || fail "client failed"

step "a vofirm-fs mount inside the guest"
modprobe fuse
mkdir -p /mnt/v
vofirm-fs /mnt/v -f --server tcp://127.0.0.1:$PORT --no-mlock >/tmp/fs.log 2>&1 &
for _ in $(seq 50); do grep -q ' /mnt/v fuse.vofirm ' /proc/mounts && break; sleep 0.1; done
grep -q ' /mnt/v fuse.vofirm ' /proc/mounts || { cat /tmp/fs.log; fail "vofirm-fs did not mount"; }
vofirm-mmapio fill /mnt/v/ram 16777216 9 || fail "fill"
echo 3 >/proc/sys/vm/drop_caches
vofirm-mmapio verify /mnt/v/ram 16777216 9 || fail "verify"
umount /mnt/v
echo "guest smoke test passed"
