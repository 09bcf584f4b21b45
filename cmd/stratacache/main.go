// Command stratacache is StrataCache's one binary:
//
//	stratacache serve [flags]          run a node
//	stratacache sim [flags]            replay traces through eviction policies
//	stratacache bench engine|tiers|net measure the engine, tiers, network
//	stratacache local-cluster [flags]  N nodes in one process
//	stratacache drain [flags]          preStop: not ready, flush write-back
//	stratacache hash [flags] < tokens  block hashes of token ids (vllm, stratacache)
//	stratacache router [flags]         KV-aware routing over HTTP (vLLM pods + nodes)
//	stratacache version
//
// Each subcommand lives in its own file as run<Name>(args, stdout, stderr).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// version is set by -ldflags "-X main.version=..." in release builds.
var version = "dev"

type command struct {
	run  func(args []string, stdout, stderr io.Writer) error
	help string
}

func commands() map[string]command {
	return map[string]command{
		"serve":         {runServe, "run a node (RESP, native and admin ports on loopback by default)"},
		"sim":           {runSim, "replay traces or generated workloads through the eviction policies"},
		"bench":         {runBench, "measure: bench engine | tiers | net | cluster"},
		"local-cluster": {runLocalCluster, "N clustered nodes in this process on loopback, with a live table"},
		"hash":          {runHash, "print the block hashes of token ids read from stdin (schemes vllm, stratacache)"},
		"router":        {runRouter, "KV-aware routing over HTTP: vLLM pods' KV events and StrataCache nodes in one scorer"},
		"drain":         {runDrain, "ask a running node to stop reporting ready and flush write-back (a preStop hook)"},
		"version":       {runVersion, "print the version"},
	}
}

func benchCommands() map[string]command {
	return map[string]command{
		"engine":  {runBenchEngine, "the storage engine against copy() (issue targets in docs/BENCHMARKS.md)"},
		"tiers":   {runBenchTiers, "the CXL and disk tiers against copy(), pwrite and pread; disk reopen time"},
		"cluster": {runBenchCluster, "remote fetch vs raw TCP, directory propagation, failure detection"},
		"fleet":   {runBenchFleet, "the partitioned directory at fleet scale (issue 13): memory, lookups, visibility, churn, model"},
		"net":     {runBenchNet, "a load generator for our native/RESP ports, Redis, memcached, raw TCP"},
		"attach":  {runBenchAttach, "clientsdk's local-attach GET (a read-only mapping of the CXL pool) vs memcached and native GET"},
	}
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "stratacache:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	return dispatch("stratacache", commands(), args, stdout, stderr)
}

func runBench(args []string, stdout, stderr io.Writer) error {
	return dispatch("stratacache bench", benchCommands(), args, stdout, stderr)
}

func dispatch(prog string, cmds map[string]command, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(prog, cmds, stderr)
		if len(args) == 0 {
			return errors.New("no command given")
		}
		return flag.ErrHelp
	}
	c, ok := cmds[args[0]]
	if !ok {
		usage(prog, cmds, stderr)
		return fmt.Errorf("unknown command %q", args[0])
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(prog string, cmds map[string]command, w io.Writer) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "usage: %s <command> [flags]\n\ncommands:\n", prog)
	for _, n := range names {
		fmt.Fprintf(&b, "  %-15s %s\n", n, cmds[n].help)
	}
	fmt.Fprint(w, b.String())
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fmt.Fprintln(stdout, "stratacache", version)
	return nil
}
