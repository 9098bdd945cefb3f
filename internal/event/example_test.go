package event_test

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/ensue-dev/ensue/internal/event"
)

func ExampleParseStructured() {
	body := []byte(`{
		"data": {"order": "123"},
		"type": "order.placed",
		"specversion": "1.0",
		"id": "e-1",
		"source": "/shop",
		"subject": "order-123",
		"expectedversion": 4
	}`)
	ev, err := event.ParseStructured(body, event.Limits{})
	if err != nil {
		panic(err)
	}
	fmt.Println(ev.Type, ev.Subject, ev.ExpectedVersion)
	fmt.Println(string(ev.JSON))
	// Output:
	// order.placed order-123 4
	// {"specversion":"1.0","id":"e-1","source":"/shop","type":"order.placed","subject":"order-123","data":{"order":"123"}}
}

func ExampleParseStructured_invalid() {
	_, err := event.ParseStructured([]byte(`{"specversion":"1.0","id":"e-1","source":"/shop","Region":"eu"}`), event.Limits{})
	var e *event.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Title)
		for _, fe := range e.Errors {
			fmt.Printf("%s: %s\n", fe.Pointer, fe.Message)
		}
	}
	// Output:
	// 400 Invalid event
	// /Region: extension name `Region` is invalid: CloudEvents attribute names are 1 to 20 lowercase letters a-z and digits 0-9; did you mean `region`?
	// /type: required attribute `type` is missing: set it to the kind of event, e.g. "order.placed"
}

func ExampleParseBinary() {
	h := http.Header{}
	h.Set("Ce-Specversion", "1.0")
	h.Set("Ce-Id", "e-2")
	h.Set("Ce-Source", "/shop")
	h.Set("Ce-Type", "note.added")
	h.Set("Ce-Subject", "caf%C3%A9")
	h.Set("Content-Type", "text/plain")
	ev, err := event.ParseBinary(h, []byte("hello"), event.Limits{})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(ev.JSON))
	// Output:
	// {"specversion":"1.0","id":"e-2","source":"/shop","type":"note.added","subject":"café","datacontenttype":"text/plain","data":"hello"}
}

func ExampleNew() {
	ev, err := event.New(event.Attributes{
		ID:          "e-3",
		Source:      "/ensue/rules",
		Type:        "ensue.rule.fired",
		CausationID: "e-1",
		Extensions:  map[string]any{"rule": "notify-shipping", "attempt": 1},
		Data:        []byte(`{"matched": "e-1"}`),
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(ev.JSON))
	// Output:
	// {"specversion":"1.0","id":"e-3","source":"/ensue/rules","type":"ensue.rule.fired","causationid":"e-1","attempt":1,"rule":"notify-shipping","data":{"matched":"e-1"}}
}
