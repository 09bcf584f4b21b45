package getbench

import (
	"errors"

	"github.com/stratacache/stratacache/clientsdk"
)

func errorsIsNotFound(err error) bool { return errors.Is(err, clientsdk.ErrNotFound) }
