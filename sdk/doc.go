// Package sdk is the Go client of Ensue's HTTP API: append CloudEvents to the
// log, read records back by position, stream, correlation or filter, and
// subscribe to new records as they are recorded.
//
// It uses only the standard library and imports no other package of Ensue,
// so it can be vendored on its own.
//
//	c := sdk.New("http://127.0.0.1:7600", sdk.WithNamespace("shop"))
//
//	res, err := c.Append(ctx, sdk.Event{
//		Source:          "shop/checkout",
//		Type:            "order.placed",
//		Subject:         "order-123",
//		Data:            map[string]any{"total": 42},
//		ExpectedVersion: sdk.ExpectVersion(0), // the stream must be new
//	})
//	if errors.Is(err, sdk.ErrWrongExpectedVersion) {
//		// someone else wrote order-123 first
//	}
//
//	for rec, err := range c.Subscribe(ctx, sdk.Query{Type: "order.*"}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(rec.Position, rec.Event.Type)
//	}
//
// Errors answered by the server are *Problem values (RFC 9457); match the
// common cases with errors.Is and ErrWrongExpectedVersion or ErrNotFound.
// A Client is safe for concurrent use.
package sdk
