# (g) The bridge lost its IPv6 gateway address (its IPv4 one stays): the host has no IPv6 route
# to the network; the fix puts the IPv6 address back. The host keeps an IPv6 address of its own
# elsewhere (br-other's, as a dual-stack host has on its uplink), so an IPv6 trace from it is
# possible at all.
NAME=ipv6_gateway_missing
FROM=host
TO=[fd00:30::3]:8080
CHECK="host [fd00:30::3] 8080"
EXPECT_CAUSE=bridge_gateway_missing
EXPECT_EXIT=1
EXPECT_REACHABLE=no
fault() {
    ip addr add fd00:31::1/64 dev br-other nodad
    ip addr del fd00:30::1/64 dev br-test
}
