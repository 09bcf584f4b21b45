package eviction

// Policy decides which key leaves a cache next. Keys are 64-bit artifact ids
// (or, in the simulator, block ids). A Policy is not safe for concurrent use:
// its owner serialises calls.
//
// Semantics every implementation keeps:
//   - Insert adds a key not present; inserting a present key is a Touch.
//   - Touch records an access to a present key; absent keys are ignored.
//   - Remove forgets a key (deleted by the owner); absent keys are ignored.
//   - Evict chooses a victim among the unpinned keys, forgets it and returns
//     it; ok is false when every key is pinned or the policy is empty.
//   - Pin/Unpin nest: a key is pinned while Pin calls outnumber Unpin calls.
//     Pinning an absent key is ignored.
type Policy interface {
	Name() string
	Insert(key uint64)
	Touch(key uint64)
	Contains(key uint64) bool
	Remove(key uint64)
	Evict() (key uint64, ok bool)
	Pin(key uint64)
	Unpin(key uint64)
	Len() int
}

// ParentAware is implemented by policies that use the prefix tree (the
// prefix-aware policy): the owner tells the policy each key's parent block
// (0 for a root block) before inserting it.
type ParentAware interface {
	SetParent(key, parent uint64)
}
