// Package compat decides whether a new version of an event's JSON Schema is
// compatible with the previous one, as Confluent's and Apicurio's schema
// registries do, so that the registry can refuse (409) a version that would
// strand producers or consumers.
//
// # Modes
//
// Everything is built from one directional check, covers(wider, narrower):
// every event valid under narrower is valid under wider.
//
//   - backward (the default) is covers(new, old): consumers on the new
//     version can read old events.
//   - forward is covers(old, new): consumers still on the old version can
//     read new events.
//   - full is both; none checks nothing.
//
// Check returns every change that breaks the guarantee, each with the JSON
// pointer of the schema location (following $ref, as if refs were inlined),
// a message that ends with its consequence ("events valid under version 2
// would be rejected by version 3"), and the direction it breaks. A change
// that the checker cannot decide either way is reported with Unprovable set:
// the registry refuses it unless the user forces the registration. The
// checker is sound, not complete: it never calls a breaking change
// compatible (TestCheckIsSound holds it to a real validator), but it may
// call a compatible one unprovable.
//
// # What is compared
//
//   - type: each type the narrower version allows must be allowed by the
//     wider one; integer is a subset of number. Narrowing breaks backward,
//     widening breaks forward.
//   - enum and const: when the narrower version lists its values (enum,
//     const, or type null/boolean), each value it accepts is validated
//     against the wider version: removing values breaks backward, adding
//     them breaks forward. enum or const added where the narrower version
//     lists no values is a break.
//   - properties, additionalProperties, required: each property is compared
//     with the schema the other version applies to it, its declaration or
//     else additionalProperties (absent means any value). So adding an
//     optional property with constraints to an open model breaks backward
//     (old events may carry it with any value); adding one to a closed
//     model breaks forward; removing a declared property breaks backward in
//     a closed model (old events may carry it) and forward in an open one
//     (new events may carry it with any value). additionalProperties
//     true→false breaks backward, false→true forward, and schemas are
//     compared recursively. A required property added breaks backward,
//     removed breaks forward. minProperties/maxProperties are bounds.
//   - patternProperties: compared for equality; equal ones are taken into
//     account when resolving which schema applies to a property.
//   - arrays: items as one schema, 2020-12 prefixItems + items, and the
//     draft-07 tuple form items [...] + additionalItems, position by
//     position; minItems, maxItems; uniqueItems added breaks backward.
//   - numbers: minimum, maximum, exclusiveMinimum, exclusiveMaximum (the
//     2020-12 numeric form and the draft-04 boolean form), compared exactly
//     and, for integers, as the integer bounds they imply (minimum 1 equals
//     exclusiveMinimum 0); multipleOf is kept when the narrower version's
//     step is a multiple of the wider one's (4 within 2, integers within 1).
//   - strings: minLength, maxLength; pattern added breaks backward, format
//     added breaks backward (format is taken as an assertion).
//   - $ref: local references ("#", "#/$defs/x", "#/definitions/x", any
//     "#/..." pointer) are resolved in their own document. Recursive
//     schemas are compared structurally; a pair of locations met again is
//     assumed compatible, which is sound because every event is finite.
//     Keywords beside $ref apply (2020-12) unless $schema names draft 04, 06
//     or 07, where they are ignored.
//   - boolean schemas: true and {} accept everything, false nothing.
//   - annotations never matter: title, description, examples, $comment,
//     default, deprecated, readOnly, writeOnly, contentEncoding,
//     contentMediaType, contentSchema, and $schema, $id, $anchor, $defs,
//     definitions as such.
//   - keywords are only compared where they apply: bounds on numbers do not
//     matter if neither version allows numbers there.
//
// # What is reported unprovable
//
//   - allOf, anyOf, oneOf, not, if/then/else, dependentRequired,
//     dependentSchemas, dependencies, propertyNames, contains, minContains,
//     maxContains, $dynamicRef, $recursiveRef and any unknown keyword of the
//     wider version, unless the narrower version has it equal (structurally,
//     after resolving references). unevaluatedProperties and
//     unevaluatedItems depend on their siblings and are unprovable unless
//     the whole schema around them is equal.
//   - pattern or format changed (they are compared only for equality);
//     patternProperties changed.
//   - $ref that is not local (another document, an "#anchor"), that does
//     not resolve, or that loops without reaching a schema; $ref with
//     constraining siblings, unless equal.
//   - a keyword whose value is malformed (minimum "0"), a schema that is
//     neither an object nor a boolean.
//   - an enum value that cannot be fully evaluated (a format, a pattern Go
//     cannot compile).
//   - a break found where the narrower version also has a constraint the
//     checker does not see through (a combinator, an unknown keyword, a
//     pattern beside a length bound): that constraint might already exclude
//     the events in question, so the break is reported unprovable and
//     says which constraint.
//
// Not analysed, so possibly over-reported: constraints that contradict each
// other within one version (a schema that accepts nothing), and bounds that
// make array positions unreachable.
//
// The package imports only the standard library and nothing else in Ensue.
package compat
