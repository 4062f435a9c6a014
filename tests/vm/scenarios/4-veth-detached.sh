# (d) c2's host-side veth is no longer a port of br-test, so c1's packets never reach it.
NAME=veth_detached
FROM=netns:c1
TO=netns:c2:8080
CHECK="c1 172.30.0.3 8080"
EXPECT_CAUSE=veth_detached
EXPECT_EXIT=1
EXPECT_REACHABLE=no
fault() {
    ip link set vethc2 nomaster
}
