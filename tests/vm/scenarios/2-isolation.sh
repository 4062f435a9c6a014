# (b) Docker's network isolation: c1 (br-test) and c3 (br-other) share no network, so
# DOCKER-ISOLATION-STAGE-2 `-o br-other -j DROP` drops c1's SYN in FORWARD.
NAME=isolation
FROM=netns:c1
TO=netns:c3:8080
CHECK="c1 172.31.0.2 8080"
EXPECT_CAUSE=network_isolation
EXPECT_EXIT=1
EXPECT_REACHABLE=no
