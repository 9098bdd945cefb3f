package cli

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
)

// isTerminal reports whether w is a terminal, where progress is drawn. A
// character device is taken for one: the only others a user points stderr
// at, such as /dev/null, do not mind a progress bar.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress shows how far a long command got. The zero value shows nothing.
type progress struct {
	bar *progressbar.ProgressBar
}

// newProgress draws a bar on w when show is set; total -1 means unknown
// (a counter instead of a bar).
func newProgress(w io.Writer, show bool, total int64, what string) *progress {
	if !show {
		return &progress{}
	}
	return &progress{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("events"),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		// A changing spinner needs a goroutine of the bar's own that only
		// ends when the bar is full; without it the bar still redraws on
		// every Add.
		progressbar.OptionSetSpinnerChangeInterval(0),
		progressbar.OptionClearOnFinish(),
	)}
}

func (p *progress) add(n int) {
	if p.bar != nil {
		_ = p.bar.Add(n)
	}
}

// done removes the bar, so that what is printed next starts on a clean line.
func (p *progress) done() {
	if p.bar != nil {
		_ = p.bar.Finish()
		_ = p.bar.Clear()
	}
}
