package flow

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	stepIDRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	envRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	methods  = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
)

// validate checks everything but CEL. It reads f as is: defaults must have
// been filled in, so that a zero written in a file is an error while a zero
// left by Go code is not (Compile fills defaults before calling it).
func validate(f *Flow, ps *problems) {
	add := func(path, format string, args ...any) {
		ps.add(f.file, f.at(path), path, format, args...)
	}
	switch {
	case f.Name == "":
		add("name", "name is required: 1-63 lowercase letters, digits or '-', e.g. notify-big-orders")
	case !nameRE.MatchString(f.Name):
		add("name", "name %q is not valid: use 1-63 lowercase letters, digits or '-', starting with a letter or digit", f.Name)
	}
	if f.On.Type == "" {
		add("on.type", "on.type is required: the event type to react to, exact (order.placed) or a glob (order.*)")
	}
	if f.Concurrency < 1 || f.Concurrency > maxConcurrency {
		add("concurrency", "concurrency must be between 1 and %d (default %d), not %d", maxConcurrency, DefaultConcurrency, f.Concurrency)
	}
	if len(f.Steps) == 0 {
		add("steps", "a flow needs at least one step (http or emit)")
	}
	seen := map[string]int{}
	for i, s := range f.Steps {
		p := fmt.Sprintf("steps[%d]", i)
		switch {
		case s.ID == "":
			add(p+".id", "id is required: a name for the step such as notify (lowercase letters, digits, '_')")
		case !stepIDRE.MatchString(s.ID):
			add(p+".id", "step id %q is not valid: start with a lowercase letter, then up to 62 lowercase letters, digits or '_' (it is used as steps.<id> in CEL)", s.ID)
		default:
			if j, dup := seen[s.ID]; dup {
				add(p+".id", "step id %q is already used by steps[%d]; give each step its own id", s.ID, j)
			} else {
				seen[s.ID] = i
			}
		}
		switch {
		case s.HTTP == nil && s.Emit == nil:
			add(p, "a step needs one action: http or emit")
		case s.HTTP != nil && s.Emit != nil:
			add(p, "a step has exactly one action: split http and emit into two steps")
		case s.HTTP != nil:
			validateHTTP(s.HTTP, p+".http", add)
		default:
			validateEmit(s.Emit, p+".emit", add)
		}
		validateRetry(s.Retry, p+".retry", add)
	}
}

func validateHTTP(h *HTTPStep, p string, add func(path, format string, args ...any)) {
	if !contains(methods, h.Method) {
		add(p+".method", "method %q is not supported; use one of %s", h.Method, strings.Join(methods, ", "))
	}
	if h.URL == "" {
		add(p+".url", "url is required: the http(s) address to call")
	} else if u, err := url.Parse(h.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add(p+".url", "url %q must be an absolute http:// or https:// URL (CEL is not supported in url)", h.URL)
	}
	for _, k := range sortedKeys(h.Headers) {
		if !validHeaderName(k) {
			add(p+".headers."+k, "header name %q is not valid: use letters, digits and - (e.g. X-Team)", k)
		}
		if strings.ContainsAny(h.Headers[k], "\r\n\x00") {
			add(p+".headers."+k, "header %s must be on one line (no CR, LF or NUL)", k)
		}
	}
	if s := h.Secret; s != "" {
		switch {
		case strings.HasPrefix(s, secretEnvPrefix):
			if !envRE.MatchString(s[len(secretEnvPrefix):]) {
				add(p+".secret", "secret %q names no valid environment variable; write env:NAME with letters, digits and _", s)
			}
		case strings.HasPrefix(s, secretLiteralPrefix):
			b, err := base64.StdEncoding.DecodeString(s[len(secretLiteralPrefix):])
			if err != nil || len(b) < 24 || len(b) > 64 {
				add(p+".secret", "secret must be whsec_ followed by 24 to 64 bytes in standard base64; prefer env:NAME to keep it out of the file")
			}
		default:
			add(p+".secret", "secret must be env:NAME (read from the environment) or whsec_<base64>")
		}
	}
	if h.Timeout < minTimeout || h.Timeout > maxTimeout {
		add(p+".timeout", "timeout must be between %s and %s (default %s), not %s", minTimeout, maxTimeout, DefaultTimeout, h.Timeout)
	}
}

func validateEmit(e *EmitStep, p string, add func(path, format string, args ...any)) {
	switch {
	case e.Type == "":
		add(p+".type", "type is required: the type of the event to emit, e.g. order.flagged")
	case strings.HasPrefix(e.Type, reservedTypePrefix):
		add(p+".type", "type %q is reserved: types starting with %q are Ensue's own; choose another", e.Type, reservedTypePrefix)
	case strings.Contains(e.Type, "*"):
		add(p+".type", "type %q is a glob; an emitted event needs an exact type", e.Type)
	}
}

func validateRetry(r Retry, p string, add func(path, format string, args ...any)) {
	if r.Attempts < 1 || r.Attempts > maxAttempts {
		add(p+".attempts", "attempts must be between 1 and %d (default %d), not %d", maxAttempts, DefaultAttempts, r.Attempts)
	}
	if r.Backoff != "exponential" && r.Backoff != "fixed" {
		add(p+".backoff", "backoff %q is not supported; use exponential or fixed", r.Backoff)
	}
	if r.Initial <= 0 {
		add(p+".initial", "initial must be a positive duration such as 1s, not %s", r.Initial)
	}
	if r.Max <= 0 {
		add(p+".max", "max must be a positive duration such as 5m, not %s", r.Max)
	}
	if r.Initial > 0 && r.Max > 0 && r.Initial > r.Max {
		add(p+".initial", "initial (%s) is longer than max (%s); lower initial or raise max", r.Initial, r.Max)
	}
}

// validHeaderName reports whether k is an HTTP token (RFC 9110).
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}
