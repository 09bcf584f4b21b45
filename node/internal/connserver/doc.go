// Package connserver is the connection lifecycle the node's protocol
// servers (RESP and native) share: accept with backoff on temporary errors,
// a cap on open connections (the protocol writes its own refusal), optional
// TLS, one goroutine per connection, and a graceful Shutdown that wakes idle
// readers and waits for in-flight requests, or Close that cuts everything.
//
// It imports the standard library and golang.org/x/sys/unix only.
package connserver
