# (e) c2 is reachable but nothing listens on port 9999: the answer is a reset.
NAME=no_listener
FROM=netns:c1
TO=netns:c2:9999
CHECK="c1 172.30.0.3 9999"
EXPECT_CAUSE=no_listener
EXPECT_EXIT=1
EXPECT_REACHABLE=no
