package flow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Defaults applied to fields a definition leaves out.
const (
	DefaultConcurrency  = 100
	DefaultMethod       = "POST"
	DefaultTimeout      = 10 * time.Second
	DefaultAttempts     = 5
	DefaultBackoff      = "exponential"
	DefaultInitial      = time.Second
	DefaultMax          = 5 * time.Minute
	KindFlow            = "flow"
	KindProjection      = "projection"
	maxConcurrency      = 10000
	maxAttempts         = 100
	minTimeout          = time.Millisecond
	maxTimeout          = 5 * time.Minute
	reservedTypePrefix  = "ensue."
	secretEnvPrefix     = "env:"
	secretLiteralPrefix = "whsec_"
)

// Flow is the definition of a flow, as written. Fields left out of the file
// hold their defaults after ParseFile; a Flow built in Go may leave them zero
// and Compile fills them in.
type Flow struct {
	Kind        string // always "flow"
	Name        string
	Description string
	On          Trigger
	Concurrency int // runs of this flow at once; default 100, 1..10000
	Steps       []Step

	// Where each field was written (by path, e.g. "steps[1].http.body"),
	// so Compile can place its errors in the file. Empty for a Flow built
	// in Go or read with ParseCanonical.
	file string
	pos  map[string]*node
}

// Trigger selects the events that start a run.
type Trigger struct {
	Type   string // exact type or a glob such as order.*; required
	Source string // optional glob
	When   string // optional CEL over `event`, must be bool
}

// Step is one action of a flow: exactly one of HTTP and Emit is set.
type Step struct {
	ID    string
	HTTP  *HTTPStep
	Emit  *EmitStep
	Retry Retry
}

// HTTPStep calls a URL.
type HTTPStep struct {
	Method  string // GET, POST, PUT, PATCH or DELETE; default POST
	URL     string // literal http(s) URL
	Headers map[string]string
	Body    string // CEL producing a JSON value; empty: no body
	// Secret signs requests: "whsec_<base64>" or "env:NAME". This package
	// checks its form only and never resolves it.
	Secret  string
	Timeout time.Duration // per attempt; default 10s, 1ms..5m
}

// EmitStep appends an event to the log.
type EmitStep struct {
	Type    string // must not start with "ensue."
	Data    string // CEL producing a JSON value; empty: no data
	Subject string // CEL producing a string; empty: the trigger's subject
}

// Retry says how a failed step is retried.
type Retry struct {
	Attempts int           // 1..100; default 5
	Backoff  string        // "exponential" (default) or "fixed"
	Initial  time.Duration // default 1s
	Max      time.Duration // default 5m; Initial <= Max
}

// withDefaults returns a copy of f with every zero field set to its default;
// the copy shares nothing mutable with f.
func (f *Flow) withDefaults() *Flow {
	g := *f
	g.Kind = KindFlow
	if g.Concurrency == 0 {
		g.Concurrency = DefaultConcurrency
	}
	g.Steps = make([]Step, len(f.Steps))
	for i, s := range f.Steps {
		if s.HTTP != nil {
			h := *s.HTTP
			if h.Method == "" {
				h.Method = DefaultMethod
			}
			if h.Timeout == 0 {
				h.Timeout = DefaultTimeout
			}
			if h.Headers != nil {
				h.Headers = make(map[string]string, len(s.HTTP.Headers))
				for k, v := range s.HTTP.Headers {
					h.Headers[k] = v
				}
			}
			s.HTTP = &h
		}
		if s.Emit != nil {
			e := *s.Emit
			s.Emit = &e
		}
		s.Retry = s.Retry.withDefaults()
		g.Steps[i] = s
	}
	return &g
}

func (r Retry) withDefaults() Retry {
	if r.Attempts == 0 {
		r.Attempts = DefaultAttempts
	}
	if r.Backoff == "" {
		r.Backoff = DefaultBackoff
	}
	if r.Initial == 0 {
		r.Initial = DefaultInitial
	}
	if r.Max == 0 {
		r.Max = DefaultMax
	}
	return r
}

// The canonical form: fixed field order, defaults filled in, durations as
// Go strings, so that the same definition written differently (YAML or JSON,
// defaults spelled out or not) has the same bytes and hash.
type canonicalFlow struct {
	Kind        string           `json:"kind"`
	Name        string           `json:"name"`
	Description string           `json:"description,omitempty"`
	On          canonicalTrigger `json:"on"`
	Concurrency int              `json:"concurrency"`
	Steps       []canonicalStep  `json:"steps"`
}

type canonicalTrigger struct {
	Type   string `json:"type"`
	Source string `json:"source,omitempty"`
	When   string `json:"when,omitempty"`
}

type canonicalStep struct {
	ID    string         `json:"id"`
	HTTP  *canonicalHTTP `json:"http,omitempty"`
	Emit  *canonicalEmit `json:"emit,omitempty"`
	Retry canonicalRetry `json:"retry"`
}

type canonicalHTTP struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
	Secret  string            `json:"secret,omitempty"`
	Timeout string            `json:"timeout"`
}

type canonicalEmit struct {
	Type    string `json:"type"`
	Data    string `json:"data,omitempty"`
	Subject string `json:"subject,omitempty"`
}

type canonicalRetry struct {
	Attempts int    `json:"attempts"`
	Backoff  string `json:"backoff"`
	Initial  string `json:"initial"`
	Max      string `json:"max"`
}

// Canonical returns the canonical JSON of the definition: fixed key order,
// defaults filled in, durations as Go strings ("1s"). It is what is stored
// and diffed, and what Hash hashes.
func (f *Flow) Canonical() []byte {
	g := f.withDefaults()
	c := canonicalFlow{
		Kind:        g.Kind,
		Name:        g.Name,
		Description: g.Description,
		On:          canonicalTrigger(g.On),
		Concurrency: g.Concurrency,
		Steps:       make([]canonicalStep, len(g.Steps)),
	}
	for i, s := range g.Steps {
		cs := canonicalStep{ID: s.ID, Retry: canonicalRetry{
			Attempts: s.Retry.Attempts,
			Backoff:  s.Retry.Backoff,
			Initial:  s.Retry.Initial.String(),
			Max:      s.Retry.Max.String(),
		}}
		if h := s.HTTP; h != nil {
			cs.HTTP = &canonicalHTTP{Method: h.Method, URL: h.URL, Body: h.Body, Secret: h.Secret, Timeout: h.Timeout.String()}
			if len(h.Headers) > 0 {
				cs.HTTP.Headers = h.Headers
			}
		}
		if e := s.Emit; e != nil {
			cs.Emit = &canonicalEmit{Type: e.Type, Data: e.Data, Subject: e.Subject}
		}
		c.Steps[i] = cs
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Expressions hold < > &; escaping them would only make stored
	// definitions harder to read.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		// Only strings, ints and maps of strings: encoding cannot fail.
		panic(fmt.Sprintf("flow: canonical encoding: %v", err))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// ParseCanonical reads what Canonical wrote. It accepts any JSON that
// decodes into the canonical shape, and does not validate: Compile does.
func ParseCanonical(b []byte) (*Flow, error) {
	var c canonicalFlow
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("flow: canonical definition: %w", err)
	}
	f := &Flow{Kind: c.Kind, Name: c.Name, Description: c.Description, On: Trigger(c.On), Concurrency: c.Concurrency}
	dur := func(s, what string) (time.Duration, error) {
		if s == "" {
			return 0, nil
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("flow: canonical definition: %s: %w", what, err)
		}
		return d, nil
	}
	for i, cs := range c.Steps {
		s := Step{ID: cs.ID, Retry: Retry{Attempts: cs.Retry.Attempts, Backoff: cs.Retry.Backoff}}
		var err error
		if s.Retry.Initial, err = dur(cs.Retry.Initial, fmt.Sprintf("steps[%d].retry.initial", i)); err != nil {
			return nil, err
		}
		if s.Retry.Max, err = dur(cs.Retry.Max, fmt.Sprintf("steps[%d].retry.max", i)); err != nil {
			return nil, err
		}
		if h := cs.HTTP; h != nil {
			s.HTTP = &HTTPStep{Method: h.Method, URL: h.URL, Headers: h.Headers, Body: h.Body, Secret: h.Secret}
			if s.HTTP.Timeout, err = dur(h.Timeout, fmt.Sprintf("steps[%d].http.timeout", i)); err != nil {
				return nil, err
			}
		}
		if e := cs.Emit; e != nil {
			s.Emit = &EmitStep{Type: e.Type, Data: e.Data, Subject: e.Subject}
		}
		f.Steps = append(f.Steps, s)
	}
	return f, nil
}
