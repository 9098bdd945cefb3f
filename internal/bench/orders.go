package bench

import (
	"fmt"
	"strconv"
	"time"
)

// The schema phases' events: orders, as a shop would send them, of type
// orderType, checked against orderSchema. Their data has the shape, formats
// and nesting that a validator has to walk in practice, where (b)'s filler
// ({"n":..,"pad":"xxx"}) has none; the events are padded in the order's note
// to the same size as (b)'s.
const (
	orderType     = "bench.order"
	orderMaxItems = 2
	// orderCustomers is how many customers place the orders.
	orderCustomers = 100_000
)

var (
	orderStatuses   = [...]string{"placed", "paid", "packed", "shipped", "delivered", "cancelled"}
	orderCurrencies = [...]string{"EUR", "USD", "GBP", "CHF", "SEK"}
)

// orderSchema is the schema registered for orderType in the schema phase's
// namespace: 13 properties (two nested objects), required members, enums,
// uuid, email and date-time formats, a pattern, length and numeric bounds,
// a multipleOf, additionalProperties false, and the note's maxLength, which
// is noteMax (an order's note never exceeds the event's size).
//
// The customer's id is short ("C-<n>") rather than a second UUID: with it,
// an order of two items did not fit (b)'s default 512 B event.
func orderSchema(noteMax int) []byte {
	return fmt.Appendf(nil, `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "%s",
  "type": "object",
  "required": ["order_id", "status", "placed_at", "customer", "currency", "total", "items"],
  "additionalProperties": false,
  "properties": {
    "order_id": {"type": "string", "format": "uuid"},
    "status": {"enum": ["placed", "paid", "packed", "shipped", "delivered", "cancelled"]},
    "placed_at": {"type": "string", "format": "date-time"},
    "customer": {
      "type": "object",
      "required": ["id", "email"],
      "additionalProperties": false,
      "properties": {
        "id": {"type": "string", "minLength": 3, "maxLength": 64},
        "email": {"type": "string", "format": "email", "maxLength": 254}
      }
    },
    "currency": {"enum": ["EUR", "USD", "GBP", "CHF", "SEK"]},
    "total": {"type": "number", "minimum": 0, "maximum": 1000000},
    "items": {
      "type": "array",
      "minItems": 1,
      "maxItems": 100,
      "items": {
        "type": "object",
        "required": ["sku", "qty", "price"],
        "additionalProperties": false,
        "properties": {
          "sku": {"type": "string", "pattern": "^SKU-[0-9]{1,8}$"},
          "qty": {"type": "integer", "minimum": 1, "maximum": 1000},
          "price": {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.01}
        }
      }
    },
    "note": {"type": "string", "maxLength": %d}
  }
}
`, orderType, noteMax)
}

// order is one order's data, derived from its number.
type order struct {
	id       [16]byte
	customer int
	status   string
	currency string
	placedAt time.Time
	items    []orderItem
}

type orderItem struct {
	sku, qty, cents int
}

// orderFor derives order n from a hash of n: the same n gives the same
// order in every phase and run. Its orders were placed in the 30 days
// before placedBy.
func orderFor(n int, placedBy time.Time) order {
	h := mix(uint64(n) ^ 0x0bde5)
	o := order{
		id:       uuidOf(h),
		customer: int(h % orderCustomers),
		status:   orderStatuses[(h>>17)%uint64(len(orderStatuses))],
		currency: orderCurrencies[(h>>23)%uint64(len(orderCurrencies))],
		placedAt: placedBy.Add(-time.Duration((h>>29)%(30*86400)) * time.Second),
		items:    make([]orderItem, 1+(h>>53)%orderMaxItems),
	}
	for i := range o.items {
		hi := mix(h + uint64(i) + 1)
		o.items[i] = orderItem{sku: int(hi % 1_000_000), qty: 1 + int((hi>>20)%9), cents: 100 + int((hi>>32)%9900)}
	}
	return o
}

// largestOrder is an order whose encoding is at least as long as any
// orderFor makes.
func largestOrder(placedBy time.Time) order {
	o := order{customer: orderCustomers - 1, placedAt: placedBy, currency: orderCurrencies[0]}
	for _, s := range orderStatuses {
		if len(s) > len(o.status) {
			o.status = s
		}
	}
	for range orderMaxItems {
		o.items = append(o.items, orderItem{sku: 999_999, qty: 9, cents: 9999})
	}
	return o
}

// uuidOf makes a version 4 UUID of the bits of x.
func uuidOf(x uint64) [16]byte {
	var u [16]byte
	a, b := mix(x), mix(^x)
	for i := range 8 {
		u[i], u[8+i] = byte(a>>(8*i)), byte(b>>(8*i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

func appendUUID(b []byte, u [16]byte) []byte {
	const hexDigits = "0123456789abcdef"
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

// appendCents appends an amount in cents as a decimal number with two
// digits after the point, as money is sent.
func appendCents(b []byte, cents int) []byte {
	b = strconv.AppendInt(b, int64(cents/100), 10)
	c := cents % 100
	return append(b, '.', byte('0'+c/10), byte('0'+c%10))
}

// appendOrder appends event n of the phase tagged tag, of type orderType,
// in stream subject, with order o as its data, padded in its note to size
// bytes (when size allows).
func (g *generator) appendOrder(b []byte, tag string, n int, subject string, o order, size int) []byte {
	start := len(b)
	b = g.appendEnvelope(b, orderType, tag, n, subject)
	b = append(b, `{"order_id":"`...)
	b = appendUUID(b, o.id)
	b = append(b, `","status":"`...)
	b = append(b, o.status...)
	b = append(b, `","placed_at":"`...)
	b = o.placedAt.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","customer":{"id":"C-`...)
	b = strconv.AppendInt(b, int64(o.customer), 10)
	b = append(b, `","email":"c`...)
	b = strconv.AppendInt(b, int64(o.customer), 10)
	b = append(b, `@example.com"},"currency":"`...)
	b = append(b, o.currency...)
	b = append(b, `","total":`...)
	total := 0
	for _, it := range o.items {
		total += it.qty * it.cents
	}
	b = appendCents(b, total)
	b = append(b, `,"items":[`...)
	for i, it := range o.items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"sku":"SKU-`...)
		b = strconv.AppendInt(b, int64(it.sku), 10)
		b = append(b, `","qty":`...)
		b = strconv.AppendInt(b, int64(it.qty), 10)
		b = append(b, `,"price":`...)
		b = appendCents(b, it.cents)
		b = append(b, '}')
	}
	b = append(b, `],"note":"`...)
	const tail = `"}}`
	for pad := size - (len(b) - start) - len(tail); pad > 0; pad-- {
		b = append(b, 'x')
	}
	return append(b, tail...)
}

// orders builds n order events in request bodies of size events each,
// choosing each event's stream with pick.
func (g *generator) orders(tag string, n, size int, pick func() string) *workload {
	return g.batchesOf(n, size, pick, func(b []byte, i int, subject string) []byte {
		return g.appendOrder(b, tag, i, subject, orderFor(i, g.placedBy), g.size)
	})
}
