package attach

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/stratacache/stratacache/extent"
)

// DAXSize reads a device-DAX's usable size and alignment from sysfs
// (mounted at sysRoot, "/sys" on a real host): the size rounded down to the
// alignment (2 MiB when sysfs does not say).
func DAXSize(sysRoot, dev string) (size, align uint64, err error) {
	base := filepath.Base(dev)
	dir := filepath.Join(sysRoot, "bus/dax/devices", base)
	size, err = readSysUint(filepath.Join(dir, "size"))
	if err != nil {
		return 0, 0, fmt.Errorf("attach: size of %s: %w", dev, err)
	}
	align, err = readSysUint(filepath.Join(dir, "align"))
	if err != nil || align == 0 {
		align = 2 << 20
	}
	if size < align {
		return 0, 0, fmt.Errorf("%w: dax device %s of %d bytes", extent.ErrTooSmall, dev, size)
	}
	return size - size%align, align, nil
}

func readSysUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 0, 64)
}
