package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/stratacache/stratacache/cluster"
)

// runBenchCluster measures the cluster (docs/cluster.md): directory
// propagation over 16 in-process nodes, failure detection, remote fetch
// through the peer transport against raw loopback TCP of the same bytes in
// the same run, and directory memory per entry. With -json it prints one
// object per line, like the other bench commands: {"name":"propagation",
// "p50_s":..,"p99_s":..}, {"name":"failure_detection","seconds":..},
// {"name":"remote_fetch","size":..,"gbps":..,"ratio":..} per size, and
// {"name":"directory","bytes_per_entry":..}.
func runBenchCluster(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*asJSON {
		return cluster.RunBench(stdout, false)
	}
	var buf bytes.Buffer
	if err := cluster.RunBench(&buf, true); err != nil {
		return err
	}
	return jsonLines(stdout, buf.Bytes())
}

// jsonLines turns the cluster bench's one report object into named lines.
func jsonLines(w io.Writer, report []byte) error {
	var r map[string]json.RawMessage
	if err := json.Unmarshal(report, &r); err != nil {
		return fmt.Errorf("bench cluster: report: %w", err)
	}
	emit := func(name string, raw json.RawMessage) error {
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			return fmt.Errorf("bench cluster: %s: %w", name, err)
		}
		obj["name"] = name
		if mib, ok := obj["size_mib"].(float64); ok {
			obj["size"] = int64(mib) << 20
		}
		b, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	}
	for _, name := range []string{"propagation", "failure_detection", "remote_fetch", "directory"} {
		raw, ok := r[name]
		if !ok {
			continue
		}
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) == nil {
			for _, item := range list {
				if err := emit(name, item); err != nil {
					return err
				}
			}
			continue
		}
		if err := emit(name, raw); err != nil {
			return err
		}
	}
	return nil
}
