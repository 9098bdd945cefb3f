package compat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Mode is a compatibility guarantee between consecutive versions of a schema.
type Mode string

const (
	// Backward: every event valid under the old version is valid under the
	// new one, so consumers on the new version can read old events.
	Backward Mode = "backward"
	// Forward: every event valid under the new version is valid under the
	// old one, so consumers still on the old version can read new events.
	Forward Mode = "forward"
	// Full is Backward and Forward.
	Full Mode = "full"
	// None checks nothing.
	None Mode = "none"
)

// ErrUnknownMode is returned for a mode other than backward, forward, full
// or none.
var ErrUnknownMode = errors.New("unknown compatibility mode")

// ParseMode reads a mode, ignoring case and surrounding space; "" is Backward,
// the default.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return Backward, nil
	case Backward, Forward, Full, None:
		return m, nil
	}
	return "", fmt.Errorf("%w %q: use backward, forward, full or none", ErrUnknownMode, s)
}

// Change is one reason why a new version of a schema breaks a guarantee, or
// may break it.
type Change struct {
	// Path locates the change in the schema as a JSON pointer that follows
	// $ref, so it is the path the keyword would have with every $ref inlined,
	// such as "/properties/items/items/properties/qty". "" is the root.
	Path string `json:"path"`
	// Message says what changed and ends with the consequence.
	Message string `json:"message"`
	// Direction is the guarantee at stake: "backward" or "forward".
	Direction string `json:"direction"`
	// Unprovable is true when the checker cannot prove compatibility (a
	// keyword it does not compare, constraints it cannot see through),
	// rather than having proved a break.
	Unprovable bool `json:"unprovable,omitempty"`
}

// InvalidSchemaError reports a schema document that is not JSON.
type InvalidSchemaError struct {
	Version int
	Offset  int64 // byte offset of the problem, when known
	Err     error
}

func (e *InvalidSchemaError) Error() string {
	return fmt.Sprintf("schema version %d is not valid JSON at byte %d: %v", e.Version, e.Offset, e.Err)
}

func (e *InvalidSchemaError) Unwrap() error { return e.Err }

// Check compares two versions of a schema under mode and returns the changes
// that break (or may break) it; none means compatible. For Full, backward
// changes come before forward ones. oldVersion and newVersion appear only in
// messages. The error is an *InvalidSchemaError for a document that is not
// JSON, or wraps ErrUnknownMode; a document that is JSON but not a schema is
// reported as an unprovable change, not an error.
func Check(old, new []byte, mode Mode, oldVersion, newVersion int) ([]Change, error) {
	if mode == "" {
		mode = Backward
	}
	switch mode {
	case Backward, Forward, Full, None:
	default:
		return nil, fmt.Errorf("%w %q: use backward, forward, full or none", ErrUnknownMode, string(mode))
	}
	o, err := decode(old, oldVersion)
	if err != nil {
		return nil, err
	}
	n, err := decode(new, newVersion)
	if err != nil {
		return nil, err
	}
	var changes []Change
	if mode == Backward || mode == Full {
		changes = append(changes, compare(n, o, true, newVersion, oldVersion)...)
	}
	if mode == Forward || mode == Full {
		changes = append(changes, compare(o, n, false, oldVersion, newVersion)...)
	}
	return changes, nil
}

// decode reads one JSON document, numbers kept as json.Number so that bounds
// and enum values compare exactly.
func decode(b []byte, version int) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		if err == io.EOF {
			return nil, &InvalidSchemaError{Version: version, Err: errors.New("empty document")}
		}
		return nil, &InvalidSchemaError{Version: version, Offset: offset(err, d, b), Err: err}
	}
	if _, err := d.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the schema")
		}
		return nil, &InvalidSchemaError{Version: version, Offset: offset(err, d, b), Err: err}
	}
	return v, nil
}

func offset(err error, d *json.Decoder, b []byte) int64 {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Offset
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return int64(len(b))
	}
	return d.InputOffset()
}
