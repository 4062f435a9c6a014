# (a) The healthy path: container c1 opens c2:8080 on the same network.
NAME=healthy
FROM=netns:c1
TO=netns:c2:8080
CHECK="c1 172.30.0.3 8080"
EXPECT_CAUSE=ok
EXPECT_EXIT=0
EXPECT_REACHABLE=yes
EXPECT_BRIDGE_HOP=observed
