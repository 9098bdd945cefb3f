package bench

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

// The bench shares the machine with whatever else runs on it; on a small
// machine a compiler or a test suite running at the same time halves the
// figures. It measures, during its timed parts, how much CPU the rest of
// the machine used, and prints it next to the figures so that a noisy run
// is seen for what it is.

// cpuSample is the machine's busy CPU time and the bench's own (this
// process's and its child server's) at one instant.
type cpuSample struct {
	machine, self time.Duration
	ok            bool
}

// clockTick is USER_HZ, the unit of /proc/stat: 100 on every Linux
// architecture Go supports.
const clockTick = 10 * time.Millisecond

func sampleCPU(c *child) cpuSample {
	self, err := selfCPU()
	if err != nil {
		return cpuSample{}
	}
	if c != nil {
		cc, err := c.cpu()
		if err != nil {
			return cpuSample{}
		}
		self += cc
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return cpuSample{}
	}
	var busy uint64
	// user nice system idle iowait irq softirq steal: all but idle and iowait.
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseUint(string(f[i]), 10, 64)
		if err != nil {
			return cpuSample{}
		}
		busy += n
	}
	return cpuSample{machine: time.Duration(busy) * clockTick, self: self, ok: true}
}

// others accumulates the CPU used by other processes during timed parts.
type others struct {
	cpu, wall time.Duration
	ok        bool
}

func (o *others) add(from, to cpuSample, wall time.Duration) {
	if !from.ok || !to.ok {
		return
	}
	o.ok = true
	o.cpu += max((to.machine-from.machine)-(to.self-from.self), 0)
	o.wall += wall
}

// timed runs one timed part, adding to o the CPU the rest of the machine
// used, and returns the CPU the bench (and its child server c, if any)
// used, -1 if unknown.
func (o *others) timed(c *child, f func() error) (time.Duration, error) {
	from, start := sampleCPU(c), time.Now()
	err := f()
	to := sampleCPU(c)
	o.add(from, to, time.Since(start))
	if !from.ok || !to.ok {
		return -1, err
	}
	return to.self - from.self, err
}

// share is the other processes' CPU as a fraction of the machine's.
func (o others) share() float64 {
	if !o.ok || o.wall <= 0 {
		return -1
	}
	return o.cpu.Seconds() / (o.wall.Seconds() * float64(runtime.NumCPU()))
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return "n/a"
	}
	return fmt.Sprintf("%s %s %s", f[0], f[1], f[2])
}
