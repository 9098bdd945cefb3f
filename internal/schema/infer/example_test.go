package infer_test

import (
	"fmt"

	"github.com/ensue-dev/ensue/internal/schema/infer"
)

func ExampleInferrer() {
	in := infer.New(infer.Options{Title: "user.signed_up"})
	for _, data := range []string{
		`{"user_id":"0b6e1b2c-6a55-4d3e-9d1f-8b1a0f0c9e11","email":"ada@example.com","plan":"pro","seats":3}`,
		`{"user_id":"5f0c2a8e-2d4b-4c51-b7c3-1e9a3c2d7f60","email":"alan@example.org","seats":1.5}`,
		`not json`,
	} {
		if err := in.Add([]byte(data)); err != nil {
			fmt.Println("skipped:", err)
		}
	}
	fmt.Print(string(in.Schema()))
	// Output:
	// skipped: sample is not valid JSON: at byte 2: invalid character 'o' in literal null (expecting 'u')
	// {
	//   "$schema": "https://json-schema.org/draft/2020-12/schema",
	//   "title": "user.signed_up",
	//   "description": "Inferred from 2 events",
	//   "type": "object",
	//   "properties": {
	//     "email": {
	//       "type": "string",
	//       "format": "email"
	//     },
	//     "plan": {
	//       "type": "string"
	//     },
	//     "seats": {
	//       "type": "number"
	//     },
	//     "user_id": {
	//       "type": "string",
	//       "format": "uuid"
	//     }
	//   },
	//   "required": [
	//     "email",
	//     "seats",
	//     "user_id"
	//   ]
	// }
}
