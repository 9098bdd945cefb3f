package infer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrInvalidJSON is wrapped by the error Add returns for a sample that is not
// JSON (RFC 8259). The caller skips such a sample and counts it.
var ErrInvalidJSON = errors.New("sample is not valid JSON")

const (
	// DefaultMaxEnum is Options.MaxEnum when it is zero.
	DefaultMaxEnum = 10
	// DefaultMinEnumSamples is Options.MinEnumSamples when it is zero or less.
	DefaultMinEnumSamples = 20

	// maxEnumValueBytes bounds the strings an enum may hold: longer values
	// are free text, not members of a closed set, and keeping them would
	// make memory depend on the data rather than on its shape.
	maxEnumValueBytes = 64
)

// Options tunes inference. The zero value is ready to use.
type Options struct {
	// MaxEnum is the largest number of distinct values a string field may
	// have and still become an enum. Default 10; a negative value turns
	// enums off. A field becomes an enum only if it holds strings (or
	// strings and null) without a format, each at most 64 bytes, and its
	// values repeat: no more distinct values than half its samples.
	MaxEnum int
	// MinEnumSamples is the smallest number of string values a field must
	// have had before it may become an enum. Default 20.
	MinEnumSamples int
	// Title is the schema's title, usually the event type. Optional.
	Title string
}

// withDefaults returns o with its zero values replaced by the defaults.
func (o Options) withDefaults() Options {
	if o.MaxEnum == 0 {
		o.MaxEnum = DefaultMaxEnum
	}
	if o.MinEnumSamples <= 0 {
		o.MinEnumSamples = DefaultMinEnumSamples
	}
	return o
}

// Inferrer accumulates samples, each the JSON of one event's data, and
// produces the schema they share. It is not safe for concurrent use.
type Inferrer struct {
	opts    Options
	samples int
	root    node
}

// New returns an Inferrer with no samples.
func New(opts Options) *Inferrer {
	return &Inferrer{opts: opts.withDefaults()}
}

// Add takes one sample. It returns an error wrapping ErrInvalidJSON, and
// changes nothing, when data is not a single JSON value.
func (in *Inferrer) Add(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		var syntax *json.SyntaxError
		switch {
		case err == io.EOF:
			return fmt.Errorf("%w: empty", ErrInvalidJSON)
		case err == io.ErrUnexpectedEOF:
			return fmt.Errorf("%w: cut short at byte %d", ErrInvalidJSON, len(data))
		case errors.As(err, &syntax):
			return fmt.Errorf("%w: at byte %d: %v", ErrInvalidJSON, syntax.Offset, err)
		}
		return fmt.Errorf("%w: %v", ErrInvalidJSON, err)
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: more text after the value that ends at byte %d", ErrInvalidJSON, end)
	}
	in.root.add(v, &in.opts)
	in.samples++
	return nil
}

// Samples returns how many samples Add has taken.
func (in *Inferrer) Samples() int { return in.samples }

// kind is a JSON Schema type. Its order is the order of names in a "type"
// array, which is sorted.
type kind int

const (
	kindArray kind = iota
	kindBoolean
	kindInteger
	kindNull
	kindNumber
	kindObject
	kindString
	numKinds
)

var kindNames = [numKinds]string{"array", "boolean", "integer", "null", "number", "object", "string"}

// node is what the samples taught about one position in the data: the root,
// an object's property, or the elements of an array.
type node struct {
	// counts is how many values of each kind were seen here; their sum is
	// how often the position was present.
	counts [numKinds]int

	// formats holds the formats every string seen here matched so far.
	formats formatSet
	// values are the distinct strings seen here while they could still
	// make an enum; enumLost is set once they no longer can.
	values   map[string]struct{}
	enumLost bool

	// props are an object's properties; required ones were present in each
	// of the counts[kindObject] objects seen here.
	props map[string]*node
	// items merges every element of every array seen here; nil while only
	// empty arrays were seen.
	items *node
}

func (n *node) seen() int {
	total := 0
	for _, c := range n.counts {
		total += c
	}
	return total
}

// add records v, a value decoded by encoding/json with UseNumber.
func (n *node) add(v any, opts *Options) {
	switch v := v.(type) {
	case nil:
		n.counts[kindNull]++
	case bool:
		n.counts[kindBoolean]++
	case json.Number:
		if isInteger(string(v)) {
			n.counts[kindInteger]++
		} else {
			n.counts[kindNumber]++
		}
	case string:
		n.addString(v, opts)
	case map[string]any:
		n.counts[kindObject]++
		if n.props == nil && len(v) > 0 {
			n.props = make(map[string]*node, len(v))
		}
		for k, x := range v {
			p := n.props[k]
			if p == nil {
				p = &node{}
				n.props[k] = p
			}
			p.add(x, opts)
		}
	case []any:
		n.counts[kindArray]++
		if n.items == nil && len(v) > 0 {
			n.items = &node{}
		}
		for _, x := range v {
			n.items.add(x, opts)
		}
	default:
		// encoding/json yields no other type.
		panic(fmt.Sprintf("infer: unexpected decoded type %T", v))
	}
}

func (n *node) addString(s string, opts *Options) {
	if n.counts[kindString] == 0 {
		n.formats = allFormats
	}
	n.counts[kindString]++
	n.formats = n.formats.matching(s)

	if n.enumLost {
		return
	}
	if opts.MaxEnum < 0 || len(s) > maxEnumValueBytes {
		n.loseEnum()
		return
	}
	if _, ok := n.values[s]; ok {
		return
	}
	if len(n.values) == opts.MaxEnum {
		// This is value MaxEnum+1: too many to enumerate.
		n.loseEnum()
		return
	}
	if n.values == nil {
		n.values = make(map[string]struct{})
	}
	n.values[s] = struct{}{}
}

func (n *node) loseEnum() {
	n.enumLost = true
	n.values = nil
}

// isInteger reports whether a JSON number's text is an integer that fits an
// int64: no fraction, no exponent. 1.0 and 1e3 are numbers, as a reader of
// the data would take them.
func isInteger(num string) bool {
	if strings.ContainsAny(num, ".eE") {
		return false
	}
	_, err := strconv.ParseInt(num, 10, 64)
	return err == nil
}
