package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/stratacache/stratacache/node"
	"github.com/stratacache/stratacache/node/admin"
)

// runDrain asks a running node, through its admin port, to stop reporting
// ready and flush its write-back links, and waits for the answer. It is
// the Kubernetes preStop hook (deploy/kubernetes): the distroless image
// has no shell or curl, so the binary does it. The token comes from
// STRATACACHE_AUTH_TOKEN, the variable the node itself reads.
func runDrain(args []string, stdout, stderr io.Writer) error {
	return drain(args, stdout, stderr, os.Getenv("STRATACACHE_AUTH_TOKEN"))
}

func drain(args []string, stdout, stderr io.Writer, token string) error {
	fs := flag.NewFlagSet("drain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	adminAddr := fs.String("admin-addr", node.DefaultAdminAddr, "the node's admin HTTP address (host:port)")
	timeout := fs.Duration("timeout", admin.DefaultDrainTimeout, "how long the node may take to flush")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("drain: unexpected arguments %q", fs.Args())
	}
	if *timeout <= 0 || *timeout > admin.MaxDrainTimeout {
		return fmt.Errorf("drain: -timeout %v: want (0, %v]", *timeout, admin.MaxDrainTimeout)
	}
	u := url.URL{Scheme: "http", Host: *adminAddr, Path: admin.DrainPath, RawQuery: "timeout=" + timeout.String()}
	// The node answers within -timeout; allow the round trip on top.
	ctx, cancel := context.WithTimeout(context.Background(), *timeout+10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("drain: reading the answer: %w", err)
	}
	var res admin.DrainResult
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable || json.Unmarshal(body, &res) != nil {
		return fmt.Errorf("drain: %s: %s", resp.Status, body)
	}
	if !res.Drained {
		return fmt.Errorf("drain: not drained after %.1fs, %d write-back bytes left: %s", res.Seconds, res.DirtyBytes, res.Error)
	}
	fmt.Fprintf(stdout, "drained in %.2fs (node not ready; write-back flushed)\n", res.Seconds)
	return nil
}
