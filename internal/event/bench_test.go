package event_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ensue-dev/ensue/internal/event"
)

// cpuMeter reports the process CPU time per iteration as cpu-ns/op, where
// the platform can tell it.
type cpuMeter struct {
	b     *testing.B
	start int64
	ok    bool
}

func meterCPU(b *testing.B) cpuMeter {
	start, ok := processCPU()
	return cpuMeter{b: b, start: start, ok: ok}
}

// report reports CPU time per iteration, or per event for a batch of n.
func (m cpuMeter) report(n int, unit string) {
	end, ok := processCPU()
	if m.ok && ok {
		m.b.ReportMetric(float64(end-m.start)/float64(m.b.N*n), unit)
	}
}

// benchEvent returns a realistic structured event of about 512 bytes; n makes
// its id unique.
func benchEvent(n int) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":"4f6cb9b2-2b0e-4c1e-9a51-%012d","source":"https://shop.example.com/orders","type":"com.example.order.placed","subject":"order-1234567","time":"2024-05-01T12:30:00.123Z","datacontenttype":"application/json","correlationid":"c0ffee00-1234-4567-89ab-cdef01234567","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","sequence":%d,"data":{"orderId":"1234567","customer":{"id":"c-42","email":"ada@example.com"},"items":[{"sku":"A-1","qty":2,"price":19.99},{"sku":"B-7","qty":1,"price":5.5}],"total":45.48,"currency":"EUR","note":"leave at the door, \"please\""}}`, n, n)
}

func BenchmarkParseStructured(b *testing.B) {
	body := []byte(benchEvent(1))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpu := meterCPU(b)
	for b.Loop() {
		if _, err := event.ParseStructured(body, event.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(1, "cpu-ns/op")
}

func BenchmarkParseStructuredParallel(b *testing.B) {
	body := []byte(benchEvent(1))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := event.ParseStructured(body, event.Limits{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkParseBatch(b *testing.B) {
	const n = 100
	events := make([]string, n)
	for i := range events {
		events[i] = benchEvent(i)
	}
	body := []byte("[" + strings.Join(events, ",") + "]")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpu := meterCPU(b)
	for b.Loop() {
		_, errs, err := event.ParseBatch(body, event.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	cpu.report(n, "cpu-ns/event")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}

func BenchmarkParseBinary(b *testing.B) {
	h := http.Header{}
	for k, v := range map[string]string{
		"Ce-Specversion":   "1.0",
		"Ce-Id":            "4f6cb9b2-2b0e-4c1e-9a51-000000000001",
		"Ce-Source":        "https://shop.example.com/orders",
		"Ce-Type":          "com.example.order.placed",
		"Ce-Subject":       "order-1234567",
		"Ce-Time":          "2024-05-01T12:30:00.123Z",
		"Ce-Correlationid": "c0ffee00-1234-4567-89ab-cdef01234567",
		"Ce-Traceparent":   "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"Ce-Sequence":      "1",
		"Content-Type":     "application/json",
		"User-Agent":       "bench",
		"Accept-Encoding":  "gzip",
	} {
		h.Set(k, v)
	}
	body := []byte(`{"orderId":"1234567","customer":{"id":"c-42","email":"ada@example.com"},"items":[{"sku":"A-1","qty":2,"price":19.99},{"sku":"B-7","qty":1,"price":5.5}],"total":45.48,"currency":"EUR","note":"leave at the door, \"please\""}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpu := meterCPU(b)
	for b.Loop() {
		if _, err := event.ParseBinary(h, body, event.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(1, "cpu-ns/op")
}

func BenchmarkNew(b *testing.B) {
	attrs := event.Attributes{
		ID: "4f6cb9b2-2b0e-4c1e-9a51-000000000001", Source: "/ensue/rules", Type: "ensue.rule.fired",
		Subject: "rule-7", Time: "2024-05-01T12:30:00.123Z", CausationID: "c0ffee00-1234-4567-89ab-cdef01234567",
		Data: []byte(`{"rule":"rule-7","matched":"4f6cb9b2-2b0e-4c1e-9a51-000000000001"}`),
	}
	b.ReportAllocs()
	cpu := meterCPU(b)
	for b.Loop() {
		if _, err := event.New(attrs); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(1, "cpu-ns/op")
}

func BenchmarkParseStructuredInvalid(b *testing.B) {
	body := []byte(`{"specversion":"1.0","id":"1","source":"/s","Type":"x","time":"now"}`)
	b.ReportAllocs()
	cpu := meterCPU(b)
	for b.Loop() {
		if _, err := event.ParseStructured(body, event.Limits{}); err == nil {
			b.Fatal("no error")
		}
	}
	cpu.report(1, "cpu-ns/op")
}

// BenchmarkReferenceJSONValid is a yardstick, not a test of this package: the
// standard library merely validating the body BenchmarkParseStructured parses.
// On a busy or unfamiliar machine, compare the two rather than absolute times.
func BenchmarkReferenceJSONValid(b *testing.B) {
	body := []byte(benchEvent(1))
	b.SetBytes(int64(len(body)))
	cpu := meterCPU(b)
	for b.Loop() {
		if !json.Valid(body) {
			b.Fatal("invalid")
		}
	}
	cpu.report(1, "cpu-ns/op")
}
