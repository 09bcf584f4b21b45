package cluster

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// ParseGossipKeys decodes the cluster.gossip_key setting: one base64 key
// of 16, 24 or 32 bytes, or several separated by commas during a rotation
// (the first encrypts, all decrypt). Empty: no keys.
func ParseGossipKeys(s string) ([][]byte, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var keys [][]byte
	for i, part := range strings.Split(s, ",") {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("%w: gossip key %d: not base64: %v", ErrConfig, i, err)
		}
		if n := len(k); n != 16 && n != 24 && n != 32 {
			return nil, fmt.Errorf("%w: gossip key %d is %d bytes (want 16, 24 or 32)", ErrConfig, i, n)
		}
		keys = append(keys, k)
	}
	return keys, nil
}
