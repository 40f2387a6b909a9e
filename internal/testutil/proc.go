package testutil

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// PeakRSS is a process's peak resident set size (VmHWM) in bytes, as the
// benchmarks report it; pid 0 is this process. A process that is gone has
// no status: an error.
func PeakRSS(pid int) (int64, error) {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in %s", path)
}
