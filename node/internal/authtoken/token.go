// Package authtoken is a node's client auth token, shared by the RESP,
// native and admin ports and changeable while they run (RESP CONFIG SET
// requirepass). It imports the standard library only.
package authtoken

import (
	"crypto/subtle"
	"sync/atomic"
)

// Token is the token in force; the empty token requires no auth. A nil
// *Token is the empty token.
type Token struct {
	p atomic.Pointer[string]
}

// New returns a token holder set to s.
func New(s string) *Token {
	t := &Token{}
	t.Set(s)
	return t
}

// Set replaces the token: new connections (and new admin requests) need
// the new one; connections already authenticated stay so, as in Redis.
func (t *Token) Set(s string) { t.p.Store(&s) }

// Get returns the token in force.
func (t *Token) Get() string {
	if t == nil {
		return ""
	}
	if p := t.p.Load(); p != nil {
		return *p
	}
	return ""
}

// Required reports whether a token is set.
func (t *Token) Required() bool { return t.Get() != "" }

// Check compares b with the token in constant time; with no token set it
// reports false (there is nothing to authenticate against).
func (t *Token) Check(b []byte) bool {
	tok := t.Get()
	return tok != "" && subtle.ConstantTimeCompare(b, []byte(tok)) == 1
}
