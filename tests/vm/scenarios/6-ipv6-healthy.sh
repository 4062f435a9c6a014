# (f) The healthy path over IPv6: c1 opens c2:8080 by c2's IPv6 address on their dual-stack
# network (the probe, its hops and the answer are IPv6; kprobe/fentry see IPv6 packets too).
NAME=ipv6_healthy
FROM=netns:c1
TO=[fd00:30::3]:8080
CHECK="c1 [fd00:30::3] 8080"
EXPECT_CAUSE=ok
EXPECT_EXIT=0
EXPECT_REACHABLE=yes
