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
	"time"

	"github.com/ensue-dev/ensue/internal/flow"
	"github.com/ensue-dev/ensue/internal/projection"
	"github.com/ensue-dev/ensue/internal/runtime"
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

// do sends an example's request.
func do(t *testing.T, ex example, base string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(ex.method, base+ex.path, strings.NewReader(ex.body))
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
	return resp.StatusCode, got
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
				// A GET may show work done in the background (a flow's run):
				// it is asked again until it matches, for a few seconds.
				deadline := time.Now().Add(10 * time.Second)
				var got []byte
				var w, g any
				for {
					var status int
					status, got = do(t, ex, srv.URL)
					if status != ex.status {
						if ex.method == http.MethodGet && time.Now().Before(deadline) {
							time.Sleep(20 * time.Millisecond)
							continue
						}
						t.Fatalf("%s:%d: %s %s: status %d, the page says %d\n%s", ex.file, ex.line, ex.method, ex.path, status, ex.status, got)
					}
					if err := json.Unmarshal([]byte(ex.want), &w); err != nil {
						t.Fatalf("%s:%d: the page's expected answer is not JSON: %v", ex.file, ex.line, err)
					}
					if err := json.Unmarshal(got, &g); err != nil {
						t.Fatalf("%s:%d: the answer is not JSON: %v\n%s", ex.file, ex.line, err, got)
					}
					if matches(w, g) || ex.method != http.MethodGet || time.Now().After(deadline) {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				if !matches(w, g) {
					t.Fatalf("%s:%d: %s %s answered\n%s\nbut the page says\n%s", ex.file, ex.line, ex.method, ex.path, got, ex.want)
				}
			}
		})
	}
}

// TestDefinitionExamples parses and compiles every ```yaml block of every
// page, and every file of the examples directory, as `ensue apply` would.
func TestDefinitionExamples(t *testing.T) {
	t.Parallel()
	pages, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, page := range pages {
		data, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(data), "\n")
		for i := 0; i < len(lines); i++ {
			if lines[i] != "```yaml" {
				continue
			}
			start := i + 1
			for i++; i < len(lines) && lines[i] != "```"; i++ {
			}
			name := fmt.Sprintf("%s:%d", page, start)
			docs, err := flow.ParseFile(name, []byte(strings.Join(lines[start:i], "\n")))
			if err != nil {
				t.Errorf("%v", err)
				continue
			}
			for _, d := range docs {
				if d.Kind == flow.KindProjection {
					pd, err := projection.FromDocument(d)
					if err == nil {
						_, err = projection.Compile(pd)
					}
					if err != nil {
						t.Errorf("%v", err)
					}
					n++
					continue
				}
				if d.Flow == nil {
					continue
				}
				if _, err := flow.Compile(d.Flow); err != nil {
					t.Errorf("%v", err)
				}
				n++
			}
		}
	}
	if _, err := runtime.ReadFiles(filepath.Join("..", "examples")); err != nil {
		t.Errorf("examples: %v", err)
	}
	if n == 0 {
		t.Fatal("no flow examples found in the pages")
	}
}
