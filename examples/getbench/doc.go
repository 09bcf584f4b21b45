// Package getbench measures a 4 MiB Get through clientsdk against the same
// Get through node/native's raw client, on one real native server over an
// actors.Engine with a memory tier, in one run (docs/clientsdk.md).
package getbench
