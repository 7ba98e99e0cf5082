#!/usr/bin/env bash
# A client can touch only its own slabs: another client's slab ids are
# refused for reading, writing and freeing, and the owner's data is intact.
# TIMEOUT: 120
. "$(dirname "$0")/../../lib/common.sh"

make_key key
start_memd memd --donate 64M --slab-size 1M --key-file key

step "client A writes a pattern over 3 slabs and keeps its session"
xt --server "$URL" --key-file key --name A rw --slabs 3 --seed 7 --session A.sess >a.out
ids=$(sed -n 's/^slabs=//p' A.sess)
[ -n "$ids" ] || fail "no slab ids saved"
victim=${ids%%,*}

step "client B tries slab $victim of A: read, write"
expect_exit 5 xt --server "$URL" --key-file key --name B poke --slab "$victim"
assert_out "read of slab $victim refused: slab $victim is not granted to this session"
expect_exit 5 xt --server "$URL" --key-file key --name B poke --slab "$victim" --write
assert_out "write of slab $victim refused"
step "client B tries a slab that does not exist"
expect_exit 5 xt --server "$URL" --key-file key --name B poke --slab 100000
assert_out "not granted"

step "client B's own slabs work and are not A's"
xt --server "$URL" --key-file key --name B alloc --slabs 2 --keep --session B.sess >b.out
bids=$(sed -n 's/^slabs=//p' B.sess)
for id in ${bids//,/ }; do
	case ",$ids," in *",$id,"*) fail "slab $id granted to both A and B" ;; esac
done

step "A's data is intact, and A can still use it"
xt --server "$URL" --key-file key verify --session A.sess >verify.out
assert_grep 'verified 3 slabs after resuming the session' verify.out
assert_grep "READ refused: slab $victim is not granted" memd.log "memd did not log the refused READ"
assert_grep "WRITE refused" memd.log
stop_memd "$PID"
