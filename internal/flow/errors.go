package flow

import (
	"fmt"
	"sort"
	"strings"
)

// Error lists every problem found in a definition, so that one round trip
// shows the author everything to fix rather than one problem at a time.
type Error struct {
	Problems []Problem
}

// Problem is one thing wrong with a definition, where it is and what to do.
// Line and Column are 1-based; they are 0 when the definition did not come
// from a file (a Flow built in Go or read back with ParseCanonical).
type Problem struct {
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	Path   string `json:"path,omitempty"` // e.g. steps[1].http.body
	// Message says what is wrong and, where it can, what to write instead.
	Message string `json:"message"`
}

func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteByte(':')
	}
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", p.Line, p.Column)
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error returns one "file:line:col: path: message" line per problem.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problems collects Problems during parsing and compiling.
type problems struct {
	list []Problem
}

func (ps *problems) add(file string, at pos, path, format string, args ...any) {
	ps.list = append(ps.list, Problem{File: file, Line: at.line, Column: at.col, Path: path, Message: fmt.Sprintf(format, args...)})
}

// err returns nil or an *Error with the problems in file order, so that
// the first line of the message is the first problem in the file.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	sort.SliceStable(ps.list, func(i, j int) bool {
		a, b := ps.list[i], ps.list[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return &Error{Problems: ps.list}
}

// pos is a 1-based position in a file; the zero pos means "unknown".
type pos struct{ line, col int }
