package cxl

import (
	"errors"

	"github.com/stratacache/stratacache/attach"
	"github.com/stratacache/stratacache/extent"
)

// Errors of Open and OpenReadOnly, beside the tiers sentinels and os errors
// (a missing device wraps fs.ErrNotExist).
var (
	ErrBadMagic  = extent.ErrBadMagic
	ErrVersion   = extent.ErrVersion
	ErrGeometry  = extent.ErrGeometry
	ErrTooSmall  = extent.ErrTooSmall
	ErrBadRecord = extent.ErrBadRecord
	// ErrLocked: another process (or handle) has the pool open read-write.
	ErrLocked = errors.New("cxl: pool is open read-write elsewhere")
	// ErrConfig: the configuration is invalid.
	ErrConfig = errors.New("cxl: invalid config")
	// ErrStale: a location no longer names the artifact it named (the slot
	// was cleared or the extent freed or reused).
	ErrStale = attach.ErrStale
)
