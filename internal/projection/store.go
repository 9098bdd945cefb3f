package projection

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// store is the projections' derived Pebble store, shared by every
// projection and rebuilt from the log (and the definitions) when deleted.
// Each generation of a projection has its own id (gid, never reused), so a
// generation's data is one key range per kind and goes with one DeleteRange.
//
// Keys (gid is 8 bytes big-endian; esc() strings are escaped and
// terminated so that a prefix of one never matches another):
//
//	N                               the last gid given
//	M esc(ns) esc(name)             meta: the projection's generations
//	C gid                           checkpoint: position applied, failure
//	D gid key                       document: position, updates, state
//	H gid esc(key) pos              history: recorded_at, updates, state
//	I gid esc(field) value key      index entry (value: encodeValue)
//
// The engine of a generation writes its C, D, H and I keys, one Pebble
// batch per group of log records, the checkpoint in the same batch.
type store struct {
	db *pebble.DB
}

const (
	kindLastGID    = 'N'
	kindMeta       = 'M'
	kindCheckpoint = 'C'
	kindDoc        = 'D'
	kindHistory    = 'H'
	kindIndex      = 'I'
)

var genKinds = []byte{kindCheckpoint, kindDoc, kindHistory, kindIndex}

func openStore(dir string) (*store, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		return nil, fmt.Errorf("projection store: open %s: %w", dir, err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

// esc appends s escaped: 0x00 becomes 0x00 0xff, and 0x00 0x01 ends it, so
// escaped strings sort as the strings do and none is a prefix of another.
func esc(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			b = append(b, 0, 0xff)
			continue
		}
		b = append(b, s[i])
	}
	return append(b, 0, 1)
}

func genPrefix(kind byte, gid uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{kind}, gid)
}

func metaKey(ns, name string) []byte { return esc(esc([]byte{kindMeta}, ns), name) }

func checkpointKey(gid uint64) []byte { return genPrefix(kindCheckpoint, gid) }

func docKey(gid uint64, key string) []byte { return append(genPrefix(kindDoc, gid), key...) }

func historyPrefix(gid uint64, key string) []byte { return esc(genPrefix(kindHistory, gid), key) }

func historyKey(gid uint64, key string, pos uint64) []byte {
	return binary.BigEndian.AppendUint64(historyPrefix(gid, key), pos)
}

func indexPrefix(gid uint64, field string) []byte { return esc(genPrefix(kindIndex, gid), field) }

func indexKey(gid uint64, field string, value []byte, key string) []byte {
	return append(append(indexPrefix(gid, field), value...), key...)
}

// prefixEnd is the smallest key after every key starting with p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// meta is what the store keeps of a projection: its active generation and
// the one being built to replace it.
type meta struct {
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Active    genMeta  `json:"active"`
	Next      *genMeta `json:"next,omitempty"`
}

type genMeta struct {
	Generation int             `json:"generation"`
	GID        uint64          `json:"gid"`
	Canonical  json.RawMessage `json:"canonical"`
	// Target is the log head when a rebuild started: the generation
	// replaces the active one once it has applied that far.
	Target    uint64    `json:"target,omitempty"`
	StartedAt time.Time `json:"started_at"`
}

// checkpoint is a generation's progress: the last position applied or
// skipped, and why it stopped when a reducer failed.
type checkpoint struct {
	Position uint64   `json:"position"`
	Failure  *Failure `json:"failure,omitempty"`
}

func (s *store) metas() ([]meta, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindMeta}, UpperBound: []byte{kindMeta + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []meta
	for it.First(); it.Valid(); it.Next() {
		var m meta
		if err := json.Unmarshal(it.Value(), &m); err != nil {
			return nil, fmt.Errorf("projection store: meta %q: %w", it.Key(), err)
		}
		out = append(out, m)
	}
	return out, it.Error()
}

// gids lists every generation that has a checkpoint.
func (s *store) gids() ([]uint64, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindCheckpoint}, UpperBound: []byte{kindCheckpoint + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []uint64
	for it.First(); it.Valid(); it.Next() {
		if len(it.Key()) == 9 {
			out = append(out, binary.BigEndian.Uint64(it.Key()[1:]))
		}
	}
	return out, it.Error()
}

func (s *store) lastGID() (uint64, error) {
	v, closer, err := s.db.Get([]byte{kindLastGID})
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	return binary.BigEndian.Uint64(v), nil
}

func (s *store) checkpoint(gid uint64) (checkpoint, error) {
	var c checkpoint
	v, closer, err := s.db.Get(checkpointKey(gid))
	if errors.Is(err, pebble.ErrNotFound) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	defer closer.Close()
	return c, json.Unmarshal(v, &c)
}

func putCheckpoint(b *pebble.Batch, gid uint64, c checkpoint) error {
	v, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return b.Set(checkpointKey(gid), v, nil)
}

// deleteGen queues the removal of every key of a generation.
func deleteGen(b *pebble.Batch, gid uint64) error {
	for _, k := range genKinds {
		if err := b.DeleteRange(genPrefix(k, gid), genPrefix(k, gid+1), nil); err != nil {
			return err
		}
	}
	return nil
}

// storedDoc is a document's value: D keys hold position, updates, state;
// H keys hold recorded_at (unix ns), updates, state.
type storedDoc struct {
	Position   uint64
	Updates    uint64
	RecordedAt int64
	State      []byte
}

func encodeDoc(d storedDoc) []byte {
	b := make([]byte, 16, 16+len(d.State))
	binary.BigEndian.PutUint64(b, d.Position)
	binary.BigEndian.PutUint64(b[8:], d.Updates)
	return append(b, d.State...)
}

func decodeDoc(v []byte) (storedDoc, error) {
	if len(v) < 16 {
		return storedDoc{}, errors.New("projection store: short document")
	}
	return storedDoc{
		Position: binary.BigEndian.Uint64(v),
		Updates:  binary.BigEndian.Uint64(v[8:]),
		State:    bytes.Clone(v[16:]),
	}, nil
}

func encodeHistory(d storedDoc) []byte {
	b := make([]byte, 16, 16+len(d.State))
	binary.BigEndian.PutUint64(b, uint64(d.RecordedAt))
	binary.BigEndian.PutUint64(b[8:], d.Updates)
	return append(b, d.State...)
}

func decodeHistory(k, v []byte) (storedDoc, error) {
	if len(v) < 16 || len(k) < 8 {
		return storedDoc{}, errors.New("projection store: short history entry")
	}
	return storedDoc{
		Position:   binary.BigEndian.Uint64(k[len(k)-8:]),
		RecordedAt: int64(binary.BigEndian.Uint64(v)),
		Updates:    binary.BigEndian.Uint64(v[8:]),
		State:      bytes.Clone(v[16:]),
	}, nil
}

// doc reads a document of a generation; ok is false when there is none.
func (s *store) doc(r pebble.Reader, gid uint64, key string) (storedDoc, bool, error) {
	v, closer, err := r.Get(docKey(gid, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return storedDoc{}, false, nil
	}
	if err != nil {
		return storedDoc{}, false, err
	}
	defer closer.Close()
	d, err := decodeDoc(v)
	return d, err == nil, err
}

// docAt is a document as of a position (atPos) or a time (atTime, when
// not zero): its last history entry at or before it.
func (s *store) docAt(gid uint64, key string, atPos uint64, atTime time.Time) (storedDoc, bool, error) {
	prefix := historyPrefix(gid, key)
	upper := prefixEnd(prefix)
	if atTime.IsZero() && atPos < math.MaxUint64 {
		upper = binary.BigEndian.AppendUint64(bytes.Clone(prefix), atPos+1)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		return storedDoc{}, false, err
	}
	defer it.Close()
	// recorded_at grows with the position, but a clock may step back:
	// walk back to the newest entry recorded at or before the time.
	for it.Last(); it.Valid(); it.Prev() {
		if len(it.Key()) != len(prefix)+8 {
			continue
		}
		d, err := decodeHistory(it.Key(), it.Value())
		if err != nil {
			return storedDoc{}, false, err
		}
		if !atTime.IsZero() && d.RecordedAt > atTime.UnixNano() {
			continue
		}
		return d, true, nil
	}
	return storedDoc{}, false, it.Error()
}

// encodeValue encodes a JSON value (as encoding/json decodes it) so that
// encoded values sort as the values do within a kind, kinds in the order
// null < false < true < number < string. Objects and arrays are not
// encoded (ok false): they are not indexed nor ordered by.
func encodeValue(b []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case nil:
		return append(b, 'a'), true
	case bool:
		if v {
			return append(b, 'c'), true
		}
		return append(b, 'b'), true
	case float64:
		return appendFloat(append(b, 'd'), v), true
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return b, false
		}
		return appendFloat(append(b, 'd'), f), true
	case int64:
		return appendFloat(append(b, 'd'), float64(v)), true
	case uint64:
		return appendFloat(append(b, 'd'), float64(v)), true
	case string:
		return esc(append(b, 'e'), v), true
	}
	return b, false
}

func appendFloat(b []byte, f float64) []byte {
	if f == 0 {
		f = 0 // -0 and +0 are one value
	}
	u := math.Float64bits(f)
	if u&(1<<63) != 0 {
		u = ^u
	} else {
		u |= 1 << 63
	}
	return binary.BigEndian.AppendUint64(b, u)
}

// field returns the value at a dotted path of a decoded JSON object.
func field(doc any, path string) (any, bool) {
	for part := range strings.SplitSeq(path, ".") {
		m, ok := doc.(map[string]any)
		if !ok {
			return nil, false
		}
		if doc, ok = m[part]; !ok {
			return nil, false
		}
	}
	return doc, true
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
