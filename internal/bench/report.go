package bench

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

// heading writes a report's first line: the bench, when, on what.
func heading(w io.Writer, bench string, start time.Time) {
	fmt.Fprintf(w, "ensue bench %s — %s, %s/%s, %d CPUs (GOMAXPROCS %d), %s\n",
		bench, start.UTC().Format(time.RFC3339), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
}

// table writes a report's rows of per-repetition figures with their median.
type table struct {
	w     io.Writer
	n     int // repetitions
	label int // width of the first column
}

// column is f of every repetition.
func column[R any](reps []R, f func(R) float64) []float64 {
	vs := make([]float64, len(reps))
	for i, r := range reps {
		vs[i] = f(r)
	}
	return vs
}

func (t *table) header(first string) {
	fmt.Fprintf(t.w, "%-*s", t.label, first)
	if t.n == 1 {
		fmt.Fprintf(t.w, "%12s\n", "value")
		return
	}
	for i := range t.n {
		fmt.Fprintf(t.w, "%12s", fmt.Sprintf("rep %d", i+1))
	}
	fmt.Fprintf(t.w, "%12s\n", "median")
}

// row writes one figure per repetition and their median; of one
// repetition, the figure alone.
func (t *table) row(name string, vs []float64, format func(float64) string) {
	fmt.Fprintf(t.w, "%-*s", t.label, name)
	if len(vs) == 1 {
		fmt.Fprintf(t.w, "%12s\n", format(vs[0]))
		return
	}
	for _, v := range vs {
		fmt.Fprintf(t.w, "%12s", format(v))
	}
	fmt.Fprintf(t.w, "%12s\n", format(median(vs)))
}

// noise writes the row of the CPU other processes used (shares of the
// machine, per repetition), and a warning when it was too much to trust
// the figures. external: the server is one of the others.
func (t *table) noise(external bool, shares []float64) {
	name := "CPU used by other processes, % of the machine"
	if external {
		name = "CPU used by others (incl. server), % of machine"
	}
	t.row(name, column(shares, func(s float64) float64 { return 100 * s }), percent)
	fmt.Fprintln(t.w)
	if m := median(shares); m > 0.05 {
		fmt.Fprintf(t.w, "WARNING: other processes used %.0f%% of the machine's CPU while phases were timed: the figures above understate this machine; rerun on a quiet machine\n\n", 100*m)
	}
}

// ratio writes a line of paired ratios, one per repetition, and their median.
func (t *table) ratio(name string, vs []float64) {
	per := make([]string, len(vs))
	for i, v := range vs {
		per[i] = fixed2(v)
	}
	fmt.Fprintf(t.w, "ratio %s (median of paired): %s   (per repetition: %s)\n", name, fixed2(median(vs)), strings.Join(per, " "))
}

// describeServer writes the report's line saying which server was measured.
func describeServer(w io.Writer, url string, command []string) {
	switch {
	case url != "":
		fmt.Fprintf(w, "Ensue:   the server at %s (its own process; its durability setting applies)\n", url)
	case len(command) > 0:
		fmt.Fprintf(w, "Ensue:   a child process, %s --addr 127.0.0.1:0 --data <temporary directory> (its defaults: embedded JetStream, sync every 1s), reached over HTTP/1.1 with keep-alive\n", strings.Join(command, " "))
	default:
		fmt.Fprintf(w, "Ensue:   in-process server on 127.0.0.1 (embedded JetStream, file storage, sync every 1s, temporary data directory), reached over HTTP/1.1 with keep-alive\n")
	}
}
