package faulttest

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// Firewall cuts raft traffic on 127.0.0.1 with iptables rules in a chain of
// its own (jumped to from OUTPUT), matching only this cluster's raft ports
// and its nodes' uids, so nothing else on the machine is touched. It needs
// root and iptables with the owner match.
type Firewall struct {
	chain string
}

// NewFirewall creates an empty chain and hooks it into OUTPUT.
func NewFirewall() (*Firewall, error) {
	f := &Firewall{chain: fmt.Sprintf("SHOALFT%d", os.Getpid())}
	if err := ipt("-N", f.chain); err != nil {
		return nil, err
	}
	if err := ipt("-I", "OUTPUT", "-j", f.chain); err != nil {
		_ = ipt("-X", f.chain)
		return nil, err
	}
	return f, nil
}

func ipt(args ...string) error {
	out, err := exec.Command("iptables", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// IsolateRaft drops every packet to and from port (the isolated node's raft
// listener) and every packet that uid (the isolated node's processes) sends
// to the peers' raft ports: a full raft partition of that node, while its
// etcd and NATS connections stay up.
func (f *Firewall) IsolateRaft(port, uid int, peers []int) error {
	p := strconv.Itoa(port)
	rules := [][]string{
		{"-A", f.chain, "-p", "tcp", "--dport", p, "-j", "DROP"},
		{"-A", f.chain, "-p", "tcp", "--sport", p, "-j", "DROP"},
	}
	for _, q := range peers {
		rules = append(rules, []string{"-A", f.chain, "-p", "tcp", "-m", "owner", "--uid-owner", strconv.Itoa(uid), "--dport", strconv.Itoa(q), "-j", "DROP"})
	}
	for _, r := range rules {
		if err := ipt(r...); err != nil {
			return err
		}
	}
	return nil
}

// Heal removes every rule of the chain.
func (f *Firewall) Heal() error { return ipt("-F", f.chain) }

// Close removes the chain.
func (f *Firewall) Close() error {
	err1 := ipt("-D", "OUTPUT", "-j", f.chain)
	err2 := ipt("-F", f.chain)
	err3 := ipt("-X", f.chain)
	if err1 != nil {
		return err1
	}
	if err2 != nil {
		return err2
	}
	return err3
}
