package memory

import (
	"errors"

	"github.com/stratacache/stratacache/tiers/eviction"
)

// newNamedPolicy builds a policy by name.
// TODO(eviction.New): switch to eviction.New once it lands.
func newNamedPolicy(name string, capacity int) (eviction.Policy, error) {
	return nil, errors.New("named policies need eviction.New")
}
