package schema

// DecodeJSON exposes the data decoder to the package's external tests.
var DecodeJSON = decodeJSON

// Verdicts returns, for data that decodes, what the fast path and the
// library each say about it: fast is true when the fast path is sure the
// data is valid, lib when the library finds no error.
func Verdicts(s *Schema, data []byte) (fast, lib, ok bool) {
	v, err := decodeJSON(data)
	if err != nil {
		return false, false, false
	}
	if s.fast != nil {
		fast = s.fast.valid(v, 0)
	}
	return fast, s.compiled.Validate(v) == nil, true
}

// HasFastPath tells whether the schema got a fast-path plan.
func HasFastPath(s *Schema) bool { return s.fast != nil }
