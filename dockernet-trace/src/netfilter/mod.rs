//! Netfilter rules and counters, both iptables backends and nftables (being written).
