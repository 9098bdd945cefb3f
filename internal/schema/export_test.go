package schema

// DecodeJSON exposes the data decoder to the package's external tests.
var DecodeJSON = decodeJSON
