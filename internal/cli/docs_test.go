package cli

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ensue-dev/ensue/internal/servertest"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the outputs in docs/cli.md from a real run")

const cliDoc = "../../docs/cli.md"

// docCommand is one "$ ..." line of a ```console block and the output the
// page shows for it.
type docCommand struct {
	line     int // 1-based line of the command in the page
	command  string
	want     []string
	outStart int // index in the page's lines of the first output line
	outEnd   int // index after the last output line
}

// parseConsoleBlocks reads the commands of the page's ```console blocks.
func parseConsoleBlocks(t *testing.T, lines []string) []docCommand {
	t.Helper()
	var cmds []docCommand
	in := false
	for i, l := range lines {
		switch {
		case !in && l == "```console":
			in = true
		case in && l == "```":
			in = false
			if len(cmds) > 0 && cmds[len(cmds)-1].outEnd == -1 {
				cmds[len(cmds)-1].outEnd = i
			}
		case in && strings.HasPrefix(l, "$ "):
			if len(cmds) > 0 && cmds[len(cmds)-1].outEnd == -1 {
				cmds[len(cmds)-1].outEnd = i
			}
			cmds = append(cmds, docCommand{line: i + 1, command: l[2:], outStart: i + 1, outEnd: -1})
		case in:
			require.NotEmpty(t, cmds, "line %d: output before any command", i+1)
			cmds[len(cmds)-1].want = append(cmds[len(cmds)-1].want, l)
		}
	}
	require.False(t, in, "unterminated ```console block")
	return cmds
}

// TestCLIDoc runs every ```console example of docs/cli.md, in order,
// against one fresh server, and checks the page shows what the CLI prints.
// "$ cat FILE" defines a file the later commands may name; "$ echo $?"
// prints the exit code of the command before. Times and UUIDs are compared
// by shape; "…" in the page matches anything.
func TestCLIDoc(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(cliDoc)
	require.NoError(t, err)
	lines := strings.Split(string(data), "\n")
	cmds := parseConsoleBlocks(t, lines)
	require.NotEmpty(t, cmds)

	srv := servertest.Start(t)
	dir := t.TempDir()
	files := map[string]string{}
	lastCode := 0
	for i := range cmds {
		c := &cmds[i]
		args, err := splitCommandLine(c.command)
		require.NoError(t, err, "line %d", c.line)
		var got []string
		switch {
		case len(args) == 2 && args[0] == "cat":
			path := filepath.Join(dir, filepath.Base(args[1]))
			require.NoError(t, os.WriteFile(path, []byte(strings.Join(c.want, "\n")+"\n"), 0o600))
			files[args[1]] = path
			got = c.want
		case len(args) == 2 && args[0] == "echo" && args[1] == "$?":
			got = []string{fmt.Sprint(lastCode)}
		case len(args) > 0 && args[0] == "ensue":
			for j, a := range args {
				if p, ok := files[a]; ok {
					args[j] = p
				} else if strings.HasPrefix(a, "@") && files[a[1:]] != "" {
					args[j] = "@" + files[a[1:]]
				}
			}
			run := func() {
				var out, errb bytes.Buffer
				lastCode = execute(context.Background(), append([]string{"--server", srv.URL}, args[1:]...),
					strings.NewReader(""), &out, &errb, noEnv, false)
				got = splitOutput(out.String() + errb.String())
			}
			if *updateDocs && len(args) > 1 && readCommands[args[1]] {
				time.Sleep(1100 * time.Millisecond) // let the indexes catch up before recording
			}
			run()
			// Filtered and correlation reads may lag an append by up to a
			// second: read again for a while before calling it a mismatch.
			if len(args) > 1 && readCommands[args[1]] && !*updateDocs {
				deadline := time.Now().Add(5 * time.Second)
				for !outputMatches(c.want, got) && time.Now().Before(deadline) {
					time.Sleep(50 * time.Millisecond)
					run()
				}
			}
		default:
			t.Fatalf("line %d: %q: a ```console block runs ensue, cat FILE or echo $? only", c.line, c.command)
		}
		if *updateDocs {
			c.want = got
			continue
		}
		require.Truef(t, outputMatches(c.want, got), "docs/cli.md line %d: $ %s\nthe page shows:\n%s\nthe CLI printed:\n%s",
			c.line, c.command, strings.Join(c.want, "\n"), strings.Join(got, "\n"))
	}
	if *updateDocs {
		var b strings.Builder
		prev := 0
		for _, c := range cmds {
			for _, l := range lines[prev:c.outStart] {
				b.WriteString(l + "\n")
			}
			for _, l := range c.want {
				b.WriteString(l + "\n")
			}
			prev = c.outEnd
		}
		b.WriteString(strings.Join(lines[prev:], "\n"))
		require.NoError(t, os.WriteFile(cliDoc, []byte(b.String()), 0o644))
	}
}

// readCommands change nothing, so they may be run again.
var readCommands = map[string]bool{"events": true, "stream": true, "get": true, "lookup": true, "correlation": true}

func splitOutput(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

var (
	timeShape = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
	uuidShape = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	spaces    = regexp.MustCompile(`\s+`)
)

// outputMatches compares output line by line, with times and UUIDs reduced
// to their shape, runs of spaces to one, and "…" matching anything.
func outputMatches(want, got []string) bool {
	if len(want) != len(got) {
		return false
	}
	norm := func(s string) string {
		s = timeShape.ReplaceAllString(s, "<time>")
		s = uuidShape.ReplaceAllString(s, "<uuid>")
		return strings.TrimSpace(spaces.ReplaceAllString(s, " "))
	}
	for i := range want {
		w, g := norm(want[i]), norm(got[i])
		parts := strings.Split(w, "…")
		for j := range parts {
			parts[j] = regexp.QuoteMeta(parts[j])
		}
		if !regexp.MustCompile("^" + strings.Join(parts, ".*") + "$").MatchString(g) {
			return false
		}
	}
	return true
}

// splitCommandLine splits a command line the way a POSIX shell would for
// the quoting the page uses: single quotes, double quotes with backslash
// escapes, and backslashes outside quotes.
func splitCommandLine(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inArg := false
	r := bufio.NewReader(strings.NewReader(s))
	for {
		c, _, err := r.ReadRune()
		if err != nil {
			break
		}
		switch {
		case c == '\'':
			inArg = true
			for {
				c, _, err := r.ReadRune()
				if err != nil {
					return nil, fmt.Errorf("unterminated ' in %q", s)
				}
				if c == '\'' {
					break
				}
				cur.WriteRune(c)
			}
		case c == '"':
			inArg = true
			for {
				c, _, err := r.ReadRune()
				if err != nil {
					return nil, fmt.Errorf("unterminated \" in %q", s)
				}
				if c == '"' {
					break
				}
				if c == '\\' {
					next, _, err := r.ReadRune()
					if err != nil {
						return nil, fmt.Errorf("trailing \\ in %q", s)
					}
					if !strings.ContainsRune(`"\$`+"`", next) {
						cur.WriteRune(c)
					}
					c = next
				}
				cur.WriteRune(c)
			}
		case c == '\\':
			next, _, err := r.ReadRune()
			if err != nil {
				return nil, fmt.Errorf("trailing \\ in %q", s)
			}
			inArg = true
			cur.WriteRune(next)
		case c == ' ' || c == '\t':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			inArg = true
			cur.WriteRune(c)
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}

func TestSplitCommandLine(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]string{
		`ensue emit --data '{"a": 1}'`:     {"ensue", "emit", "--data", `{"a": 1}`},
		`ensue events --type "order.*"`:    {"ensue", "events", "--type", "order.*"},
		`ensue a\ b "x\"y" ''`:             {"ensue", "a b", `x"y`, ""},
		`  ensue   get  1 `:                {"ensue", "get", "1"},
		`ensue --ext 'note="hi there"' -o`: {"ensue", "--ext", `note="hi there"`, "-o"},
	} {
		got, err := splitCommandLine(in)
		require.NoError(t, err)
		require.Equal(t, want, got, in)
	}
	_, err := splitCommandLine(`ensue 'open`)
	require.Error(t, err)
}
