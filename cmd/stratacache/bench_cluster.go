package main

import (
	"flag"
	"io"

	"github.com/stratacache/stratacache/cluster"
)

// runBenchCluster measures the cluster (docs/cluster.md): remote fetch
// through the peer transport against raw loopback TCP of the same bytes in
// the same run, directory propagation, failure detection and directory
// memory per entry.
func runBenchCluster(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return cluster.RunBench(stdout, *asJSON)
}
