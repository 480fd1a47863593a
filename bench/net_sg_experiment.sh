#!/bin/bash
# SPDX-License-Identifier: MIT
# An experiment, not a benchmark of Kumo as built: the same bridge path as
# bench/net.sh (two veth "VM" ports on a bridge, in namespaces made here and
# removed at exit), with (a) no filtering, (b) stateful filtering through
# br_netfilter + conntrack (the first kumo_sg), (c) stateful filtering
# in the bridge family with dynamic flow sets (the shape kumo_sg and
# kumo_flow have now), beside a plain veth pair. Usage:
# [T=seconds] bash bench/net_sg_experiment.sh
# (c) keeps its flows in a table of its own (kumo_flow) that a rule reload
# never replaces: kumo_sg marks what it allows, kumo_flow remembers it.
set -u
P=kx$$
H=$P-h A=$P-a B=$P-b R1=$P-r1 R2=$P-r2
cleanup() { for n in $H $A $B $R1 $R2; do ip netns del $n 2>/dev/null; done; pkill -f "iperf3 -s -p 5999" 2>/dev/null; }
trap cleanup EXIT
for n in $H $A $B $R1 $R2; do ip netns add $n; ip -n $n link set lo up; done
# reference pair
ip -n $R1 link add eth0 type veth peer name eth0 netns $R2
ip -n $R1 addr add 10.9.0.1/24 dev eth0; ip -n $R1 link set eth0 up
ip -n $R2 addr add 10.9.0.2/24 dev eth0; ip -n $R2 link set eth0 up
# bridge
ip -n $H link add kbr-x type bridge; ip -n $H link set kbr-x type bridge stp_state 0 forward_delay 0; ip -n $H link set kbr-x up
for v in a:$A:10.8.0.1 b:$B:10.8.0.2; do IFS=: read t ns ipa <<<"$v"
  ip -n $H link add ktp-$t type veth peer name eth0 netns $ns
  ip -n $H link set ktp-$t master kbr-x up
  ip -n $ns addr add $ipa/24 dev eth0; ip -n $ns link set eth0 up
done
ip netns exec $R2 iperf3 -s -p 5999 -D; ip netns exec $B iperf3 -s -p 5999 -D; sleep 0.5
rules_none() { ip netns exec $H sysctl -qw net.bridge.bridge-nf-call-iptables=0; ip netns exec $H nft flush ruleset; }
rules_ct() { ip netns exec $H sysctl -qw net.bridge.bridge-nf-call-iptables=1; ip netns exec $H nft flush ruleset; ip netns exec $H nft -f - <<'N'
table inet t {
  set sg_in { type ipv4_addr . inet_proto . inet_service; flags interval;
    elements = { 10.8.0.0/24 . tcp . 5999, 0.0.0.0/0 . icmp . 0-65535, 192.0.2.0/24 . tcp . 1-1000, 198.51.100.0/24 . udp . 53 } }
  chain nin { udp sport 67 udp dport 68 accept; ip saddr . meta l4proto . th dport @sg_in accept; drop; }
  chain pre { type filter hook prerouting priority -300; ct zone set iifname map { "kbr-x" : 1 }; }
  chain fwd2 { type filter hook forward priority 0;
    iifname != "kbr-*" accept
    ct state established,related accept; ct state invalid drop
    oifname . ip daddr vmap { "kbr-x" . 10.8.0.2 : jump nin };
  }
}
N
}
rules_flow() { ip netns exec $H sysctl -qw net.bridge.bridge-nf-call-iptables=0; ip netns exec $H nft flush ruleset; ip netns exec $H nft -f - <<'N'
table bridge kumo_flow {
  set flows { typeof iifname . ip daddr . meta l4proto . th sport . th dport; flags dynamic, timeout; timeout 300s; size 262144; }
  chain pre {
    type filter hook forward priority -10; policy accept;
    ether type != ip return
    iifname . ip daddr . meta l4proto . th sport . th dport @flows update @flows { iifname . ip daddr . meta l4proto . th sport . th dport } meta mark set meta mark | 0x01000000
    oifname . ip saddr . meta l4proto . th dport . th sport @flows meta mark set meta mark | 0x02000000
  }
  chain post {
    type filter hook forward priority 10; policy accept;
    meta mark & 0x04000000 == 0x04000000 add @flows { iifname . ip daddr . meta l4proto . th sport . th dport }
    meta mark & 0x08000000 == 0x08000000 add @flows { oifname . ip saddr . meta l4proto . th dport . th sport }
    meta mark & 0x0f000000 != 0 meta mark set meta mark & 0xf0ffffff
  }
}
table bridge kumo_sg {
  set sg_in { type ipv4_addr . inet_proto . inet_service; flags interval;
    elements = { 10.8.0.0/24 . tcp . 5999, 0.0.0.0/0 . icmp . 0-65535, 192.0.2.0/24 . tcp . 1-1000, 198.51.100.0/24 . udp . 53 } }
  chain nin {
    meta mark & 0x02000000 == 0x02000000 accept
    udp sport 67 udp dport 68 accept
    ip saddr . meta l4proto . th dport @sg_in meta mark set meta mark | 0x08000000 accept
    drop
  }
  chain nout {
    meta mark & 0x01000000 == 0x01000000 return
    meta mark set meta mark | 0x04000000 return
  }
  chain fwd2 {
    type filter hook forward priority 0; policy accept;
    ether type != ip return
    iifname vmap { "ktp-b" : jump nout }
    oifname vmap { "ktp-b" : jump nin }
  }
}
N
}
run() { # ns server
  ip netns exec $1 iperf3 -c $2 -p 5999 -t ${T:-4} -J 2>/dev/null | python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))'
}
for round in 1 2 3; do
  echo "round $round: plain $(run $R1 10.9.0.2)"
  rules_none; echo "round $round: bridge-none $(run $A 10.8.0.2)"
  rules_ct; echo "round $round: bridge-ct $(run $A 10.8.0.2)"
  rules_flow; echo "round $round: bridge-flow $(run $A 10.8.0.2)"
  ip netns exec $H nft list set bridge kumo_flow flows | grep -c expires
done
