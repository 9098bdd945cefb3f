package infer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Draft is the JSON Schema dialect of the schemas Schema writes.
const Draft = "https://json-schema.org/draft/2020-12/schema"

// schemaJSON is one schema as written. Its field order is the key order of
// the output; encoding/json writes the properties map sorted by name.
type schemaJSON struct {
	Schema      string                 `json:"$schema,omitempty"`
	Title       string                 `json:"title,omitempty"`
	Description string                 `json:"description,omitempty"`
	Type        any                    `json:"type,omitempty"` // a string, or a sorted []string
	Format      string                 `json:"format,omitempty"`
	Enum        []any                  `json:"enum,omitempty"`
	Properties  map[string]*schemaJSON `json:"properties,omitempty"`
	Required    []string               `json:"required,omitempty"`
	Items       *schemaJSON            `json:"items,omitempty"`
}

// Schema returns the schema of the samples so far, as JSON indented by two
// spaces and ending in a newline. Its root says how many samples it was
// inferred from; it has no type when there were none. The output depends
// only on the samples, not on their order or on when it is called.
func (in *Inferrer) Schema() []byte {
	root := &schemaJSON{}
	if in.samples > 0 {
		root = in.root.schema(&in.opts)
	}
	root.Schema = Draft
	root.Title = in.opts.Title
	root.Description = description(in.samples)

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the schema is for people to edit: keep < > & as they are
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		// Only strings, string slices and maps of them: cannot fail.
		panic(fmt.Sprintf("infer: encoding schema: %v", err))
	}
	return buf.Bytes()
}

func description(samples int) string {
	if samples == 1 {
		return "Inferred from 1 event"
	}
	return fmt.Sprintf("Inferred from %d events", samples)
}

// schema returns the schema of the values seen at n, which were seen at
// least once.
func (n *node) schema(opts *Options) *schemaJSON {
	s := &schemaJSON{}

	var types []string
	for k, c := range n.counts {
		if c == 0 || (kind(k) == kindInteger && n.counts[kindNumber] > 0) {
			continue // integers are numbers too
		}
		types = append(types, kindNames[k])
	}
	if len(types) == 1 {
		s.Type = types[0]
	} else {
		s.Type = types
	}

	if n.counts[kindString] > 0 {
		s.Format = n.formats.name()
		s.Enum = n.enum(opts)
	}

	if n.counts[kindObject] > 0 && len(n.props) > 0 {
		s.Properties = make(map[string]*schemaJSON, len(n.props))
		for name, p := range n.props {
			s.Properties[name] = p.schema(opts)
			if p.seen() == n.counts[kindObject] {
				s.Required = append(s.Required, name)
			}
		}
		slices.Sort(s.Required)
	}

	if n.counts[kindArray] > 0 {
		if n.items != nil {
			s.Items = n.items.schema(opts)
		} else {
			s.Items = &schemaJSON{} // only empty arrays: any element
		}
	}
	return s
}

// enum returns the values of a string field that is a small closed set, or
// nil. An enum restricts every value, so it is given only to fields that
// hold strings (and perhaps null, which then joins the enum), and not to
// strings with a format: a uuid or a date-time is an open set however few
// were seen. A field whose values are mostly distinct (fewer than two
// samples per value) is free text, not a set.
func (n *node) enum(opts *Options) []any {
	strs := n.counts[kindString]
	if n.enumLost || n.formats.name() != "" || strs < opts.MinEnumSamples || 2*len(n.values) > strs {
		return nil
	}
	for k, c := range n.counts {
		if c > 0 && kind(k) != kindString && kind(k) != kindNull {
			return nil
		}
	}
	values := make([]string, 0, len(n.values))
	for v := range n.values {
		values = append(values, v)
	}
	slices.Sort(values)
	enum := make([]any, 0, len(values)+1)
	for _, v := range values {
		enum = append(enum, v)
	}
	if n.counts[kindNull] > 0 {
		enum = append(enum, nil)
	}
	return enum
}
