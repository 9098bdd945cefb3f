package flow

import "cel.dev/cel-go/common/types/ref"

// JSONValue converts a CEL value into the Go values encoding/json writes
// exactly, by the rules of a flow's http.body and emit.data: int and uint
// stay integers, maps need string keys, bytes become base64, timestamps RFC
// 3339 and durations Go strings; NaN and infinities are errors. It is
// exported for internal/projection, whose states must encode as a flow's
// data does.
func JSONValue(v ref.Val) (any, error) { return toJSONValue(v) }
