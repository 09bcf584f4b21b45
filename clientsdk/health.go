package clientsdk

import (
	"time"
)

// memberHealth is what the Index knows about a member's reachability. A
// member is down from the first failure of a connection to it or of its
// directory sync (no threshold: a scheduler that keeps offering a dead
// node sends it requests that all fail) until a retry succeeds. Retries
// are due after a backoff that doubles per consecutive failure.
type memberHealth struct {
	down     bool
	failures int
	retryAt  time.Time
	cause    error
}

// RetryPolicy bounds the backoff between retries of a member marked down:
// Base after the first failure, doubling per consecutive failure up to Max.
type RetryPolicy struct {
	Base, Max time.Duration
}

var defaultRetry = RetryPolicy{Base: 250 * time.Millisecond, Max: 10 * time.Second}

// SetRetryPolicy changes the backoff between retries of members marked
// down (default 250 ms doubling up to 10 s). Zero fields keep the default.
func (ix *Index) SetRetryPolicy(p RetryPolicy) {
	if p.Base <= 0 {
		p.Base = defaultRetry.Base
	}
	if p.Max < p.Base {
		p.Max = max(p.Base, defaultRetry.Max)
	}
	ix.mu.Lock()
	ix.retry = p
	ix.mu.Unlock()
}

// now is the Index's clock (a seam for tests).
func (ix *Index) now() time.Time {
	if ix.clock != nil {
		return ix.clock()
	}
	return time.Now()
}

// MarkDown records that member name could not be reached (cause says
// why). From now on routing tries it last and PrefixLookup, ScoreNodes
// and Scores leave it out, until MarkUp; a retry is due after the backoff
// (RetryDue). The Client marks a member down when a connection to it
// fails, the Follower when its directory sync fails. Unknown names are
// ignored.
func (ix *Index) MarkDown(name string, cause error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if s, ok := ix.slots[name]; ok {
		ix.markDownLocked(s, cause)
	}
}

func (ix *Index) markDownLocked(s int, cause error) {
	h := &ix.health[s]
	if !h.down {
		ix.ndown++
	}
	d := ix.retry.Base << min(h.failures, 30)
	if d <= 0 || d > ix.retry.Max {
		d = ix.retry.Max
	}
	h.down, h.cause, h.retryAt = true, cause, ix.now().Add(d)
	h.failures++
}

// MarkUp records that member name answered again: it is routed to and
// scored as before. Unknown names are ignored.
func (ix *Index) MarkUp(name string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if s, ok := ix.slots[name]; ok {
		ix.resetHealthLocked(s)
	}
}

// resetHealthLocked forgets slot s's failures.
func (ix *Index) resetHealthLocked(s int) {
	if ix.health[s].down {
		ix.ndown--
	}
	ix.health[s] = memberHealth{}
}

// Down reports whether member name is marked down.
func (ix *Index) Down(name string) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s, ok := ix.slots[name]
	return ok && ix.health[s].down
}

// RetryDue reports whether member name may be tried: it is up, or down
// with its backoff passed (the caller's attempt is the retry: MarkUp on
// success, MarkDown on failure, which doubles the backoff).
func (ix *Index) RetryDue(name string) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s, ok := ix.slots[name]
	return !ok || ix.health[s].due(ix.now())
}

// due: up, or down with its retry due at now.
func (h *memberHealth) due(now time.Time) bool { return !h.down || !now.Before(h.retryAt) }

// DownMember describes a member marked down.
type DownMember struct {
	Name string
	// Cause is the failure that marked it down last; Failures counts the
	// consecutive failures; RetryAt is when the next retry is due.
	Cause    error
	Failures int
	RetryAt  time.Time
}

// DownMembers lists the members marked down.
func (ix *Index) DownMembers() []DownMember {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []DownMember
	for s, h := range ix.health {
		if h.down && ix.members[s].Name != "" {
			out = append(out, DownMember{Name: ix.members[s].Name, Cause: h.cause, Failures: h.failures, RetryAt: h.retryAt})
		}
	}
	return out
}

// markDownAddr marks down the member whose native or peer address is
// addr (a failed connection of the Client); it returns the member's name.
func (ix *Index) markDownAddr(addr string, cause error) string {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for s, m := range ix.members {
		if m.Name != "" && (m.Addr == addr || m.PeerAddr == addr) {
			ix.markDownLocked(s, cause)
			return m.Name
		}
	}
	return ""
}

// markUpAddr marks up the member whose native or peer address is addr
// when it is down (a request to it succeeded).
func (ix *Index) markUpAddr(addr string) {
	ix.mu.RLock()
	down := false
	for s, m := range ix.members {
		if m.Name != "" && (m.Addr == addr || m.PeerAddr == addr) && ix.health[s].down {
			down = true
			break
		}
	}
	ix.mu.RUnlock()
	if !down {
		return // the common case: no write lock
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for s, m := range ix.members {
		if m.Name != "" && (m.Addr == addr || m.PeerAddr == addr) {
			ix.resetHealthLocked(s)
		}
	}
}

// addrOf returns the native address of member name (ok: it is a member).
func (ix *Index) addrOf(name string) (string, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s, ok := ix.slots[name]
	if !ok {
		return "", false
	}
	return ix.members[s].Addr, true
}

// hasAddr reports whether a member has native address addr.
func (ix *Index) hasAddr(addr string) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, m := range ix.members {
		if m.Name != "" && m.Addr == addr {
			return true
		}
	}
	return false
}
