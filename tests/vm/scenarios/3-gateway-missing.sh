# (c) The seed incident: the bridge lost its gateway address (as after a VM suspend), so the host
# has no route to the network (and the guest has no default route to fall back on).
NAME=gateway_missing
FROM=host
TO=netns:c2:8080
CHECK="host 172.30.0.3 8080"
EXPECT_CAUSE=bridge_gateway_missing
EXPECT_EXIT=1
EXPECT_REACHABLE=no
fault() {
    ip addr del 172.30.0.1/24 dev br-test
}
