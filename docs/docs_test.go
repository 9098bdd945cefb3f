// Package docs holds Ensue's user documentation. Its test runs the HTTP
// examples of every page against a real server, in order, so the pages
// cannot drift from what the server does.
package docs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ensue-dev/ensue/internal/servertest"
)

// example is an ```http request block and the ```json block after it.
type example struct {
	file   string
	line   int
	method string
	path   string
	header http.Header
	body   string
	status int
	want   string
}

// parseExamples reads the request/response pairs of a Markdown page. A
// request block is fenced ```http: a request line ("POST /v1/events"),
// headers, a blank line and a body. The answer is the next fenced block,
// ```json, whose first line may be "HTTP 409" to state the status (200
// otherwise). In the expected JSON, the string "…" matches any value.
func parseExamples(t *testing.T, file string) []example {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []example
	var cur *example
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	var block []string
	kind := ""
	for sc.Scan() {
		line++
		l := sc.Text()
		switch {
		case kind == "" && (l == "```http" || l == "```json"):
			kind = strings.TrimPrefix(l, "```")
			block = block[:0]
		case kind != "" && l == "```":
			if kind == "http" {
				cur = parseRequest(t, file, line-len(block), block)
			} else if cur != nil {
				cur.status = 200
				b := block
				if len(b) > 0 && strings.HasPrefix(b[0], "HTTP ") {
					fmt.Sscanf(b[0], "HTTP %d", &cur.status)
					b = b[1:]
				}
				cur.want = strings.Join(b, "\n")
				out = append(out, *cur)
				cur = nil
			}
			kind = ""
		case kind != "":
			block = append(block, l)
		}
	}
	return out
}

func parseRequest(t *testing.T, file string, line int, lines []string) *example {
	t.Helper()
	if len(lines) == 0 {
		t.Fatalf("%s:%d: empty http block", file, line)
	}
	method, path, ok := strings.Cut(lines[0], " ")
	if !ok {
		t.Fatalf("%s:%d: request line %q is not METHOD PATH", file, line, lines[0])
	}
	ex := &example{file: file, line: line, method: method, path: path, header: http.Header{}}
	i := 1
	for ; i < len(lines) && lines[i] != ""; i++ {
		k, v, ok := strings.Cut(lines[i], ":")
		if !ok {
			t.Fatalf("%s:%d: header %q has no colon", file, line+i, lines[i])
		}
		ex.header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if i < len(lines) {
		ex.body = strings.Join(lines[i+1:], "\n")
	}
	return ex
}

// matches compares JSON values; "…" in want matches anything.
func matches(want, got any) bool {
	if s, ok := want.(string); ok && s == "…" {
		return true
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k, v := range w {
			if gv, ok := g[k]; !ok || !matches(v, gv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !matches(w[i], g[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(want, got)
	}
}

func TestHTTPExamples(t *testing.T) {
	t.Parallel()
	pages, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range pages {
		exs := parseExamples(t, page)
		if len(exs) == 0 {
			continue
		}
		t.Run(page, func(t *testing.T) {
			t.Parallel()
			srv := servertest.Start(t)
			for _, ex := range exs {
				if ex.method == http.MethodGet {
					// Filtered reads and correlations may lag appends by
					// up to a second; the pages show the settled answer.
					if err := srv.Server.WaitIndexed(t.Context()); err != nil {
						t.Fatal(err)
					}
				}
				req, err := http.NewRequest(ex.method, srv.URL+ex.path, strings.NewReader(ex.body))
				if err != nil {
					t.Fatalf("%s:%d: %v", ex.file, ex.line, err)
				}
				req.Header = ex.header
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatalf("%s:%d: %v", ex.file, ex.line, err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != ex.status {
					t.Fatalf("%s:%d: %s %s: status %d, the page says %d\n%s", ex.file, ex.line, ex.method, ex.path, resp.StatusCode, ex.status, got)
				}
				var w, g any
				if err := json.Unmarshal([]byte(ex.want), &w); err != nil {
					t.Fatalf("%s:%d: the page's expected answer is not JSON: %v", ex.file, ex.line, err)
				}
				if err := json.Unmarshal(got, &g); err != nil {
					t.Fatalf("%s:%d: the answer is not JSON: %v\n%s", ex.file, ex.line, err, got)
				}
				if !matches(w, g) {
					t.Fatalf("%s:%d: %s %s answered\n%s\nbut the page says\n%s", ex.file, ex.line, ex.method, ex.path, got, ex.want)
				}
			}
		})
	}
}
