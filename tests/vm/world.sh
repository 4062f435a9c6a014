# Sourced by lib.sh. A Docker-shaped host without dockerd: what `docker network create` and
# `docker run` would have built, made by hand so every scenario starts from the same healthy world.
#
#   network A: bridge br-test  172.30.0.1/24 fd00:30::1/64, containers c1 172.30.0.2 fd00:30::2
#              and c2 172.30.0.3 fd00:30::3 (dual stack, as `docker network create --ipv6`)
#   network B: bridge br-other 172.31.0.1/24, container  c3 172.31.0.2
#   c2 and c3 serve HTTP on 8080; c2:8080 is published on the host's port 18080.
#   iptables: Docker 20.10's chains and rules for those two networks (docker-rules.txt),
#   br_netfilter on, ip_forward and IPv6 forwarding on, FORWARD policy DROP.
# Containers are network namespaces (/run/netns/NAME); the host end of each veth is vethNAME.
# Under TCG every exec of a dynamically linked program costs ~0.2 s, so the links are made with
# one `ip -batch` per namespace instead of one `ip` per step.
BR_A=br-test
BR_B=br-other
WORLD_PIDS=""

# Host side: bridges with their gateway addresses, namespaces, veths on the bridges. IPv6
# addresses skip duplicate address detection (nodad): usable at once, as Docker's are.
host_links() {
    for net in "$BR_A 172.30.0.1/24" "$BR_B 172.31.0.1/24"; do
        set -- $net
        echo "link add $1 type bridge"
        echo "addr add $2 dev $1"
        echo "link set $1 up"
    done
    echo "addr add fd00:30::1/64 dev $BR_A nodad"
    for c in "c1 $BR_A" "c2 $BR_A" "c3 $BR_B"; do
        set -- $c
        echo "netns add $1"
        echo "link add veth$1 type veth peer name eth0 netns $1"
        echo "link set veth$1 master $2 up"
    done
}

# Container side: eth0 with its address, and the default route through the bridge's gateway;
# on a dual-stack network the same for IPv6.
container_links() { # ADDRESS GATEWAY [ADDRESS6 GATEWAY6]
    echo "link set lo up"
    echo "addr add $1/24 dev eth0"
    echo "link set eth0 up"
    echo "route add default via $2"
    if [ -n "$3" ]; then
        echo "addr add $3/64 dev eth0 nodad"
        echo "route add default via $4"
    fi
}

serve() { # NETNS PORT: busybox httpd, as a container's server
    ip netns exec "$1" httpd -f -p "$2" -h /www &
    WORLD_PIDS="$WORLD_PIDS $!"
}

# Waits until NETNS listens on PORT (httpd starts asynchronously).
wait_listen() { # NETNS PORT
    i=0
    while [ $i -lt 50 ]; do
        ip netns exec "$1" netstat -ltn 2>/dev/null | grep -q ":$2 " && return 0
        sleep 0.1
        i=$((i + 1))
    done
    echo "nothing listens on $1:$2 after 5 s" >&2
}

world_up() {
    sysctl -qw net.ipv4.ip_forward=1
    sysctl -qw net.ipv6.conf.all.forwarding=1
    host_links | ip -batch -
    container_links 172.30.0.2 172.30.0.1 fd00:30::2 fd00:30::1 | ip -n c1 -batch -
    container_links 172.30.0.3 172.30.0.1 fd00:30::3 fd00:30::1 | ip -n c2 -batch -
    container_links 172.31.0.2 172.31.0.1 | ip -n c3 -batch -
    # Docker loads br_netfilter so that bridged traffic passes iptables' FORWARD chain.
    sysctl -qw net.bridge.bridge-nf-call-iptables=1
    iptables-restore < /dnt/docker-rules.txt
    serve c2 8080
    serve c3 8080
    wait_listen c2 8080
    wait_listen c3 8080
}

world_down() {
    for pid in $WORLD_PIDS; do kill "$pid" 2>/dev/null; done
    WORLD_PIDS=""
    # The veths go first: namespace teardown is asynchronous, and the next world_up reuses the
    # names at once.
    {
        for ns in c1 c2 c3; do
            echo "link del veth$ns"
            echo "netns del $ns"
        done
        echo "link del $BR_A"
        echo "link del $BR_B"
    } | ip -force -batch - 2>/dev/null
    # Without --noflush, restoring empty tables flushes them and deletes Docker's chains.
    printf '*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n*nat\nCOMMIT\n' | iptables-restore
}
