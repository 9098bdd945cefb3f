package sdk_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/ensue-dev/ensue/sdk"
)

// The examples run against a real server that TestMain starts (serverURL);
// each uses a namespace of its own so that its output does not depend on the
// others. Positions are global to the server, so they are not printed.

func Example() {
	ctx := context.Background()
	c := sdk.New(serverURL, sdk.WithNamespace("example"))

	res, err := c.Append(ctx, sdk.Event{
		ID:      "order-123-placed",
		Source:  "/shop",
		Type:    "order.placed",
		Subject: "order-123",
		Data:    map[string]any{"total": 1250},
	})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("stored in", res.Stream, "at version", res.Version)

	rec, err := c.Get(ctx, res.Position)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	var data struct{ Total int }
	if err := rec.Event.DataAs(&data); err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(rec.Event.Type, data.Total)
	// Output:
	// stored in order-123 at version 1
	// order.placed 1250
}

func ExampleClient_Append() {
	ctx := context.Background()
	c := sdk.New(serverURL, sdk.WithNamespace("example-append"))

	// (Source, ID) is the event's identity: sending it again records nothing.
	ev := sdk.Event{ID: "pay-1", Source: "/billing", Type: "payment.captured", Subject: "payment-9"}
	for range 2 {
		res, err := c.Append(ctx, ev)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Printf("%s v%d duplicate=%v\n", res.Stream, res.Version, res.Duplicate)
	}
	// Output:
	// payment-9 v1 duplicate=false
	// payment-9 v1 duplicate=true
}

func ExampleClient_Append_expectedVersion() {
	ctx := context.Background()
	c := sdk.New(serverURL, sdk.WithNamespace("example-expected"))

	placed := sdk.Event{Source: "/shop", Type: "order.placed", Subject: "order-7", ExpectedVersion: sdk.ExpectVersion(0)}
	if _, err := c.Append(ctx, placed); err != nil {
		fmt.Println("error:", err)
		return
	}

	// A writer that thinks order-7 is still new loses the race.
	cancelled := sdk.Event{Source: "/shop", Type: "order.cancelled", Subject: "order-7", ExpectedVersion: sdk.ExpectVersion(0)}
	_, err := c.Append(ctx, cancelled)
	var p *sdk.Problem
	if errors.Is(err, sdk.ErrWrongExpectedVersion) && errors.As(err, &p) {
		fmt.Println("conflict: order-7 is at version", *p.CurrentVersion)
		// Read the stream, decide again, and retry with the version seen.
		cancelled.ExpectedVersion = p.CurrentVersion
		res, err := c.Append(ctx, cancelled)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println("cancelled at version", res.Version)
	}
	// Output:
	// conflict: order-7 is at version 1
	// cancelled at version 2
}

func ExampleClient_AppendBatch() {
	ctx := context.Background()
	c := sdk.New(serverURL, sdk.WithNamespace("example-batch"))

	results, err := c.AppendBatch(ctx, []sdk.Event{
		{Source: "/shop", Type: "order.placed", Subject: "order-1"},
		{Source: "/shop", Subject: "order-1"}, // no type: fails alone
		{Source: "/shop", Type: "order.paid", Subject: "order-1"},
	})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	for i, r := range results {
		if r.Problem != nil {
			fmt.Printf("%d: %d %s\n", i, r.Problem.Status, r.Problem.Errors[0].Pointer)
			continue
		}
		fmt.Printf("%d: %s v%d\n", i, r.Result.Stream, r.Result.Version)
	}
	// Output:
	// 0: order-1 v1
	// 1: 400 /type
	// 2: order-1 v2
}

func ExampleClient_AppendAtomic() {
	ctx := context.Background()
	c := sdk.New(serverURL, sdk.WithNamespace("example-atomic"))

	_, err := c.AppendAtomic(ctx, []sdk.Event{
		{Source: "/billing", Type: "payment.authorized", Subject: "payment-1"},
		{Source: "/billing", Type: "ensue.forbidden", Subject: "payment-1"}, // reserved type
	})
	var p *sdk.Problem
	if errors.As(err, &p) {
		fmt.Println("refused because of event", *p.Index)
	}
	page, err := c.Stream(ctx, "payment-1", sdk.StreamQuery{})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("payment-1 is at version", page.Version)
	// Output:
	// refused because of event 1
	// payment-1 is at version 0
}

func ExampleClient_Events() {
	ctx := context.Background()
	c := sdk.New(serverURL, sdk.WithNamespace("example-events"))
	for i := range 5 {
		if _, err := c.Append(ctx, sdk.Event{Source: "/sensors", Type: "reading.taken", Data: i}); err != nil {
			fmt.Println("error:", err)
			return
		}
	}

	// Follow Next from page to page until the end (Records does it too).
	q := sdk.Query{Limit: 2}
	for {
		page, err := c.Events(ctx, q)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		if page.End(q.After) {
			break
		}
		if len(page.Records) == 0 {
			q.After = page.Next // a filter skipped records: read on
			continue
		}
		var values []int
		for _, rec := range page.Records {
			var n int
			if err := rec.Event.DataAs(&n); err != nil {
				fmt.Println("error:", err)
				return
			}
			values = append(values, n)
		}
		fmt.Println(values)
		q.After = page.Next
	}
	// Output:
	// [0 1]
	// [2 3]
	// [4]
}

func ExampleClient_Records() {
	ctx := context.Background()
	c := sdk.New(serverURL, sdk.WithNamespace("example-records"))
	for _, typ := range []string{"door.opened", "door.closed", "door.opened"} {
		if _, err := c.Append(ctx, sdk.Event{Source: "/building", Type: typ}); err != nil {
			fmt.Println("error:", err)
			return
		}
	}

	for rec, err := range c.Records(ctx, sdk.Query{Type: "door.opened"}) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println(rec.Event.Type)
	}
	// Output:
	// door.opened
	// door.opened
}

func ExampleClient_Stream() {
	ctx := context.Background()
	c := sdk.New(serverURL, sdk.WithNamespace("example-stream"))
	for _, typ := range []string{"cart.created", "cart.item_added", "cart.checked_out"} {
		if _, err := c.Append(ctx, sdk.Event{Source: "/shop", Type: typ, Subject: "cart-5"}); err != nil {
			fmt.Println("error:", err)
			return
		}
	}

	// The last two events, newest first.
	page, err := c.Stream(ctx, "cart-5", sdk.StreamQuery{Backward: true, Limit: 2})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("version", page.Version)
	for _, rec := range page.Records {
		fmt.Println(rec.Version, rec.Event.Type)
	}
	// Output:
	// version 3
	// 3 cart.checked_out
	// 2 cart.item_added
}

func ExampleClient_Correlation() {
	ctx := context.Background()
	c := sdk.New(serverURL, sdk.WithNamespace("example-correlation"))
	events := []sdk.Event{
		{ID: "evt-1", Source: "/shop", Type: "order.placed"},
		{ID: "evt-2", Source: "/shop", Type: "payment.requested",
			Extensions: map[string]any{"correlationid": "evt-1", "causationid": "evt-1"}},
		{ID: "evt-3", Source: "/billing", Type: "payment.captured",
			Extensions: map[string]any{"correlationid": "evt-1", "causationid": "evt-2"}},
	}
	for _, ev := range events {
		if _, err := c.Append(ctx, ev); err != nil {
			fmt.Println("error:", err)
			return
		}
	}

	records, err := c.Correlation(ctx, "evt-1")
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	for _, rec := range records {
		fmt.Printf("%s caused by %q\n", rec.Event.ID, rec.Event.CausationID())
	}
	// Output:
	// evt-1 caused by ""
	// evt-2 caused by "evt-1"
	// evt-3 caused by "evt-2"
}

func ExampleClient_Subscribe() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := sdk.New(serverURL, sdk.WithNamespace("example-subscribe"))
	for _, typ := range []string{"user.signed_up", "user.logged_in", "user.signed_up"} {
		if _, err := c.Append(ctx, sdk.Event{Source: "/auth", Type: typ}); err != nil {
			fmt.Println("error:", err)
			return
		}
	}

	// From the beginning of the log; reconnects resume where it stopped.
	seen := 0
	for rec, err := range c.Subscribe(ctx, sdk.Query{Type: "user.signed_up"}) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println(rec.Event.Type)
		if seen++; seen == 2 {
			break // or cancel ctx
		}
	}
	// Output:
	// user.signed_up
	// user.signed_up
}
