// Package registry is Ensue's schema registry: the JSON Schemas of each
// namespace's event types, by version, each type's compatibility mode, and
// each namespace's schema mode (off, warn, enforce); and the check of an
// event's data at ingest against the schema that applies to it.
//
// Everything is kept in a JetStream KV bucket, one entry per schema
// version (a KV key keeps only a few revisions; a version is never
// rewritten, so histories of any length are kept whole), in the embedded
// and the external-cluster mode alike. Every node watches the bucket, so
// its in-memory view follows registrations made on any node; the node that
// registers sees its own change at once.
//
// It may import event, schema, schema/compat, the standard library,
// nats.go and the Prometheus client.
package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ensue-dev/ensue/internal/event"
	"github.com/ensue-dev/ensue/internal/schema"
	"github.com/ensue-dev/ensue/internal/schema/compat"
)

// Schema modes of a namespace.
const (
	ModeOff     = "off"
	ModeWarn    = "warn"
	ModeEnforce = "enforce"
)

// DefaultMode is a namespace's schema mode until it is set.
const DefaultMode = ModeWarn

// Bucket is the KV bucket of the registry.
const Bucket = "ensue-schemas"

var (
	// ErrNotFound: no such type or version.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: a schema that cannot be used.
	ErrInvalid = errors.New("invalid")
	// ErrInvalidSetting: a mode or setting that does not exist.
	ErrInvalidSetting = errors.New("invalid setting")
	// ErrConflict: the change clashes with the registry's state.
	ErrConflict = errors.New("conflict")
)

// IncompatibleError refuses a version that breaks its type's
// compatibility mode; Changes says how, one entry per breaking change.
type IncompatibleError struct {
	Type    string
	Mode    compat.Mode
	Changes []compat.Change
}

func (e *IncompatibleError) Error() string {
	return fmt.Sprintf("the new schema of %s breaks %s compatibility in %d place(s)", e.Type, e.Mode, len(e.Changes))
}

// Version is one registered version of a type's schema.
type Version struct {
	Type         string          `json:"type"`
	Version      int             `json:"version"`
	Schema       json.RawMessage `json:"schema"`
	RegisteredAt time.Time       `json:"registered_at"`

	// compiled is the schema, compiled at its first use: a version never
	// changes, so validation needs no cache lookup.
	compiled atomic.Pointer[schema.Schema]
}

// Compiled is the version's schema, compiled once.
func (v *Version) Compiled() (*schema.Schema, error) {
	if s := v.compiled.Load(); s != nil {
		return s, nil
	}
	s, err := schema.Compile(v.Schema)
	if err != nil {
		return nil, err
	}
	v.compiled.Store(s)
	return s, nil
}

// Settings are a namespace's settings.
type Settings struct {
	SchemaMode string `json:"schema_mode"`
}

// Config configures a Registry.
type Config struct {
	// KV is the registry's bucket (see Bucket). Required.
	KV     jetstream.KeyValue
	Logger *slog.Logger
}

// Registry is safe for concurrent use.
type Registry struct {
	kv  jetstream.KeyValue
	log *slog.Logger

	mu       sync.RWMutex
	versions map[string][]*Version // "ns\x00type", by version
	// highest is the highest version number a type ever had, deleted ones
	// included (their delete markers stay in the bucket): a number is never
	// given to two schemas, so a dataschema pin keeps its meaning.
	highest  map[string]int
	compat   map[string]compat.Mode
	settings map[string]Settings

	stop context.CancelFunc
	done chan struct{}
}

// Open loads the bucket and follows it until Close.
func Open(ctx context.Context, cfg Config) (*Registry, error) {
	if cfg.KV == nil {
		return nil, errors.New("registry: KV is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Registry{
		kv: cfg.KV, log: cfg.Logger,
		versions: map[string][]*Version{}, highest: map[string]int{}, compat: map[string]compat.Mode{}, settings: map[string]Settings{},
		done: make(chan struct{}),
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.stop = cancel
	w, err := cfg.KV.WatchAll(wctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("registry: watch %s: %w", Bucket, err)
	}
	// The watcher first delivers every current entry, then a nil.
	for loaded := false; !loaded; {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				cancel()
				return nil, errors.New("registry: the bucket's watcher stopped while loading")
			}
			if e == nil {
				loaded = true
				continue
			}
			r.applyEntry(e)
		case <-ctx.Done():
			cancel()
			_ = w.Stop()
			return nil, ctx.Err()
		}
	}
	go func() {
		defer close(r.done)
		defer func() { _ = w.Stop() }()
		for {
			select {
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e != nil {
					r.applyEntry(e)
				}
			case <-wctx.Done():
				return
			}
		}
	}()
	return r, nil
}

// Close stops following the bucket.
func (r *Registry) Close() {
	r.stop()
	<-r.done
}

// Keys: v.<ns>.<type>.<version> (a version), c.<ns>.<type> (compatibility),
// n.<ns> (settings). Types are base64url-encoded: KV keys allow few
// characters.
func encType(t string) string { return base64.RawURLEncoding.EncodeToString([]byte(t)) }

func decType(s string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return string(b), err == nil
}

func versionKey(ns, typ string, v int) string {
	return fmt.Sprintf("v.%s.%s.%010d", ns, encType(typ), v)
}
func compatKey(ns, typ string) string { return "c." + ns + "." + encType(typ) }
func settingsKey(ns string) string    { return "n." + ns }

func tk(ns, typ string) string { return ns + "\x00" + typ }

// applyEntry applies an entry the watcher delivered.
func (r *Registry) applyEntry(e jetstream.KeyValueEntry) {
	r.apply(e.Key(), e.Value(), e.Operation() != jetstream.KeyValuePut)
}

// apply brings the in-memory view in line with one key of the bucket.
func (r *Registry) apply(key string, value []byte, deleted bool) {
	parts := strings.Split(key, ".")
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case parts[0] == "v" && len(parts) == 4:
		typ, ok := decType(parts[2])
		n, err := strconv.Atoi(parts[3])
		if !ok || err != nil {
			return
		}
		k := tk(parts[1], typ)
		r.highest[k] = max(r.highest[k], n)
		list := r.versions[k]
		i := sort.Search(len(list), func(i int) bool { return list[i].Version >= n })
		if deleted {
			if i < len(list) && list[i].Version == n {
				r.versions[k] = append(list[:i], list[i+1:]...)
			}
			return
		}
		var v Version
		if err := json.Unmarshal(value, &v); err != nil {
			r.log.Warn("unreadable schema entry; ignored", "key", key, "err", err)
			return
		}
		if i < len(list) && list[i].Version == n {
			list[i] = &v
			return
		}
		list = append(list, nil)
		copy(list[i+1:], list[i:])
		list[i] = &v
		r.versions[k] = list
	case parts[0] == "c" && len(parts) == 3:
		typ, ok := decType(parts[2])
		if !ok {
			return
		}
		if deleted {
			delete(r.compat, tk(parts[1], typ))
			return
		}
		if m, err := compat.ParseMode(string(value)); err == nil {
			r.compat[tk(parts[1], typ)] = m
		}
	case parts[0] == "n" && len(parts) == 2:
		if deleted {
			delete(r.settings, parts[1])
			return
		}
		var s Settings
		if err := json.Unmarshal(value, &s); err == nil {
			r.settings[parts[1]] = s
		}
	}
}

// applyPut records a put this node made (the watcher delivers it too,
// later): read your writes.
func (r *Registry) applyPut(key string, value []byte) { r.apply(key, value, false) }

// Register stores doc as the next version of typ's schema, unless an
// identical version exists (then it is returned, created false). A version
// that breaks the type's compatibility mode is refused with an
// *IncompatibleError, unless force.
func (r *Registry) Register(ctx context.Context, ns, typ string, doc []byte, force bool) (*Version, bool, error) {
	if err := checkType(typ); err != nil {
		return nil, false, err
	}
	canon, err := schema.Canonical(doc)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if _, err := schema.Compile(canon); err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	for attempt := 0; ; attempt++ {
		list := r.Versions(ns, typ)
		for _, v := range list {
			if string(v.Schema) == string(canon) {
				return v, false, nil
			}
		}
		r.mu.RLock()
		next := r.highest[tk(ns, typ)] + 1
		r.mu.RUnlock()
		if len(list) > 0 {
			latest := list[len(list)-1]
			mode := r.Compatibility(ns, typ)
			if !force && mode != compat.Mode("none") {
				changes, err := compat.Check(latest.Schema, canon, mode, latest.Version, next)
				if err != nil {
					return nil, false, fmt.Errorf("%w: %w", ErrInvalid, err)
				}
				if len(changes) > 0 {
					return nil, false, &IncompatibleError{Type: typ, Mode: mode, Changes: changes}
				}
			}
		}
		v := &Version{Type: typ, Version: next, Schema: canon, RegisteredAt: time.Now().UTC()}
		val, err := json.Marshal(v)
		if err != nil {
			return nil, false, err
		}
		key := versionKey(ns, typ, next)
		if _, err := r.kv.Create(ctx, key, val); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) && attempt < 5 {
				// Registered meanwhile by another request or node: load it
				// and decide again.
				if e, gerr := r.kv.Get(ctx, key); gerr == nil {
					r.applyEntry(e)
				}
				continue
			}
			return nil, false, fmt.Errorf("registry: store %s version %d: %w", typ, next, err)
		}
		r.applyPut(key, val)
		return v, true, nil
	}
}

// CheckCompatibility says how doc would break typ's compatibility mode as
// its next version (nil: it would not), changing nothing.
func (r *Registry) CheckCompatibility(ns, typ string, doc []byte) (compat.Mode, []compat.Change, error) {
	canon, err := schema.Canonical(doc)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if _, err := schema.Compile(canon); err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	mode := r.Compatibility(ns, typ)
	latest := r.Latest(ns, typ)
	if latest == nil || mode == "none" {
		return mode, nil, nil
	}
	changes, err := compat.Check(latest.Schema, canon, mode, latest.Version, latest.Version+1)
	if err != nil {
		return mode, nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return mode, changes, nil
}

func checkType(typ string) error {
	if typ == "" || len(typ) > event.MaxIDBytes {
		return fmt.Errorf("%w: an event type of 1 to %d bytes is needed", ErrInvalid, event.MaxIDBytes)
	}
	return nil
}

// Versions lists typ's versions, oldest first.
func (r *Registry) Versions(ns, typ string) []*Version {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]*Version(nil), r.versions[tk(ns, typ)]...)
}

// NextVersion is the number typ's next version would get.
func (r *Registry) NextVersion(ns, typ string) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.highest[tk(ns, typ)] + 1
}

// Latest is typ's latest version, nil when it has none.
func (r *Registry) Latest(ns, typ string) *Version {
	r.mu.RLock()
	defer r.mu.RUnlock()
	list := r.versions[tk(ns, typ)]
	if len(list) == 0 {
		return nil
	}
	return list[len(list)-1]
}

// Get is version n of typ.
func (r *Registry) Get(ns, typ string, n int) (*Version, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, v := range r.versions[tk(ns, typ)] {
		if v.Version == n {
			return v, nil
		}
	}
	if len(r.versions[tk(ns, typ)]) == 0 {
		return nil, fmt.Errorf("%w: no schema for type %q in namespace %q", ErrNotFound, typ, ns)
	}
	return nil, fmt.Errorf("%w: type %q has no version %d", ErrNotFound, typ, n)
}

// TypeInfo summarises one type of the registry.
type TypeInfo struct {
	Type          string      `json:"type"`
	LatestVersion int         `json:"latest_version"`
	Versions      int         `json:"versions"`
	Compatibility compat.Mode `json:"compatibility"`
}

// Types lists the namespace's types that have a schema, by name.
func (r *Registry) Types(ns string) []TypeInfo {
	r.mu.RLock()
	var out []TypeInfo
	for k, list := range r.versions {
		n, typ, _ := strings.Cut(k, "\x00")
		if n != ns || len(list) == 0 {
			continue
		}
		out = append(out, TypeInfo{Type: typ, LatestVersion: list[len(list)-1].Version, Versions: len(list)})
	}
	r.mu.RUnlock()
	for i := range out {
		out[i].Compatibility = r.Compatibility(ns, out[i].Type)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	if out == nil {
		out = []TypeInfo{}
	}
	return out
}

// Delete removes version n of typ. The latest version is what validation
// and compatibility checks use: it may go only while the namespace's
// schema mode is off.
func (r *Registry) Delete(ctx context.Context, ns, typ string, n int) error {
	if _, err := r.Get(ns, typ, n); err != nil {
		return err
	}
	if latest := r.Latest(ns, typ); latest != nil && latest.Version == n {
		if mode := r.Settings(ns).SchemaMode; mode != ModeOff {
			return fmt.Errorf("%w: version %d is the latest schema of %q, which validates its events (schema mode %q); register a newer version first, or set the namespace's schema mode to off", ErrConflict, n, typ, mode)
		}
	}
	key := versionKey(ns, typ, n)
	if err := r.kv.Delete(ctx, key); err != nil {
		return fmt.Errorf("registry: delete %s version %d: %w", typ, n, err)
	}
	r.apply(key, nil, true)
	return nil
}

// Compatibility is typ's compatibility mode (backward unless set).
func (r *Registry) Compatibility(ns, typ string) compat.Mode {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if m, ok := r.compat[tk(ns, typ)]; ok {
		return m
	}
	return compat.Mode("backward")
}

// SetCompatibility sets typ's compatibility mode.
func (r *Registry) SetCompatibility(ctx context.Context, ns, typ, mode string) error {
	if err := checkType(typ); err != nil {
		return err
	}
	m, err := compat.ParseMode(mode)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSetting, err)
	}
	key := compatKey(ns, typ)
	if _, err := r.kv.Put(ctx, key, []byte(m)); err != nil {
		return fmt.Errorf("registry: store the compatibility of %s: %w", typ, err)
	}
	r.applyPut(key, []byte(m))
	return nil
}

// Settings are the namespace's settings, defaults filled in.
func (r *Registry) Settings(ns string) Settings {
	r.mu.RLock()
	s, ok := r.settings[ns]
	r.mu.RUnlock()
	if !ok || s.SchemaMode == "" {
		s.SchemaMode = DefaultMode
	}
	return s
}

// SetSettings stores the namespace's settings.
func (r *Registry) SetSettings(ctx context.Context, ns string, s Settings) error {
	switch s.SchemaMode {
	case ModeOff, ModeWarn, ModeEnforce:
	default:
		return fmt.Errorf("%w: schema_mode must be off, warn or enforce, not %q", ErrInvalidSetting, s.SchemaMode)
	}
	val, err := json.Marshal(s)
	if err != nil {
		return err
	}
	key := settingsKey(ns)
	if _, err := r.kv.Put(ctx, key, val); err != nil {
		return fmt.Errorf("registry: store the settings of namespace %s: %w", ns, err)
	}
	r.applyPut(key, val)
	return nil
}

// Outcome is what validation found for one event.
type Outcome struct {
	// Mode is the namespace's schema mode.
	Mode string
	// Type and Version name the schema used; Version 0 when none applied.
	Type    string
	Version int
	// Violations, empty when the data is valid.
	Violations []schema.Violation
}

// dataSchemaPrefix starts a dataschema that pins a registered version:
// /v1/schemas/{type}/versions/{n}.
const dataSchemaPrefix = "/v1/schemas/"

// Validate checks an event's data against the schema that applies to it:
// the version its dataschema pins, else its type's latest. It does nothing
// in a namespace whose mode is off, or for a type without schema.
func (r *Registry) Validate(ns string, ev *event.Event) Outcome {
	out := Outcome{Mode: r.Settings(ns).SchemaMode}
	if out.Mode == ModeOff {
		return out
	}
	var v *Version
	if typ, n, ok := pinned(ev.DataSchema); ok {
		got, err := r.Get(ns, typ, n)
		if err != nil {
			out.Type, out.Version = typ, n
			out.Violations = []schema.Violation{{Pointer: "/dataschema", Keyword: "dataschema",
				Message: fmt.Sprintf("the pinned schema does not exist: %v", strings.TrimPrefix(err.Error(), ErrNotFound.Error()+": "))}}
			return out
		}
		v = got
	} else if v = r.Latest(ns, ev.Type); v == nil {
		return out
	}
	out.Type, out.Version = v.Type, v.Version
	s, err := v.Compiled()
	if err != nil {
		out.Violations = []schema.Violation{{Pointer: "/dataschema", Keyword: "schema", Message: "the registered schema does not compile: " + err.Error()}}
		return out
	}
	data := ev.Data()
	if data == nil && ev.HasBinaryData() {
		out.Violations = []schema.Violation{{Pointer: "/data", Keyword: "type", Message: "binary data (data_base64) cannot match a JSON Schema; send JSON data"}}
		return out
	}
	// The event parser has checked the data is strict JSON.
	vs, err := s.ValidateJSON(data)
	if err != nil {
		out.Violations = []schema.Violation{{Pointer: "/data", Keyword: "type", Message: "data is not JSON: " + err.Error()}}
		return out
	}
	out.Violations = vs
	return out
}

// pinned reads a dataschema of the form /v1/schemas/{type}/versions/{n}
// (a full URL whose path is that also counts).
func pinned(ds string) (typ string, n int, ok bool) {
	if ds == "" {
		return "", 0, false
	}
	if i := strings.Index(ds, dataSchemaPrefix); i > 0 {
		ds = ds[i:]
	}
	rest, ok := strings.CutPrefix(ds, dataSchemaPrefix)
	if !ok {
		return "", 0, false
	}
	i := strings.LastIndex(rest, "/versions/")
	if i <= 0 {
		return "", 0, false
	}
	t, err := url.PathUnescape(rest[:i])
	if err != nil {
		return "", 0, false
	}
	n, err = strconv.Atoi(rest[i+len("/versions/"):])
	if err != nil || n < 1 {
		return "", 0, false
	}
	return t, n, true
}

// ViolationsExtension carries, in warn mode, what an event's data broke.
const ViolationsExtension = "ensueviolations"

// ViolationError is an event whose data breaks its schema in enforce mode.
type ViolationError struct {
	Outcome
}

func (e *ViolationError) Error() string {
	return fmt.Sprintf("the data does not match schema %s version %d (%d violation(s))", e.Type, e.Version, len(e.Violations))
}

// PathEscape escapes a type as one segment of a URL path.
func PathEscape(s string) string { return url.PathEscape(s) }

// Check applies the namespace's schema mode to an event: in enforce mode a
// violation refuses it (*ViolationError); in warn mode it is returned
// carrying its violations in the ensueviolations extension (the schema
// version and the violations, as JSON). The Outcome says what was found.
func (r *Registry) Check(ns string, ev *event.Event) (*event.Event, Outcome, error) {
	o := r.Validate(ns, ev)
	if len(o.Violations) == 0 {
		return ev, o, nil
	}
	if o.Mode == ModeEnforce {
		return nil, o, &ViolationError{Outcome: o}
	}
	note, err := json.Marshal(struct {
		Schema     string             `json:"schema"`
		Violations []schema.Violation `json:"violations"`
	}{fmt.Sprintf("/v1/schemas/%s/versions/%d", PathEscape(o.Type), o.Version), o.Violations})
	if err != nil {
		return ev, o, nil
	}
	if annotated, err := ev.WithExtension(ViolationsExtension, string(note)); err == nil {
		return annotated, o, nil
	}
	return ev, o, nil
}
