package bench

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	rand2 "math/rand/v2"
	"strconv"
	"time"
)

// The bench's events: CloudEvents 1.0 in JSON, source /bench, type
// bench.event, a unique id, a subject naming the stream, padded in data to
// exactly the configured size.
const (
	benchSource = "/bench"
	benchType   = "bench.event"
	// streamSeed fixes which stream each event goes to, so that every
	// repetition (and every run) spreads its events the same way.
	streamSeed = 0x5eed
)

// generator builds the bench's events. Ids are unique in a run (a random
// run id, a tag per phase and repetition, a counter), so no event is ever a
// duplicate, also against a server that already holds an earlier run.
type generator struct {
	size     int
	runID    string
	time     string
	placedBy time.Time // the orders' latest placed_at
	streams  []string  // stream names, by index
}

func newGenerator(cfg *IngestConfig) *generator {
	var b [4]byte
	_, _ = rand.Read(b[:])
	now := time.Now().UTC()
	g := &generator{size: cfg.PayloadBytes, runID: hex.EncodeToString(b[:]), time: now.Format(time.RFC3339Nano), placedBy: now.Truncate(time.Second)}
	g.streams = make([]string, cfg.Streams)
	width := len(strconv.Itoa(cfg.Streams - 1))
	for i := range g.streams {
		g.streams[i] = fmt.Sprintf("bench-%0*d", width, i)
	}
	return g
}

// minPayloadBytes is the size of the bench's largest event with no padding
// (an order's, when the schema phases run).
func minPayloadBytes(cfg *IngestConfig) int {
	now := time.Now().UTC()
	g := &generator{runID: "00000000", time: now.Format(time.RFC3339Nano)}
	name := fmt.Sprintf("bench-one-%d", max(cfg.Repetitions, 1)) // the longest stream name used
	if n := len(fmt.Sprintf("bench-%d", max(cfg.Streams, 1))); n > len(name) {
		name = fmt.Sprintf("bench-%0*d", n-len("bench-"), 0)
	}
	n := len(g.appendEvent(nil, "rss-99", math.MaxInt32, name, 0))
	if !cfg.NoSchemaPhases {
		// Orders are numbered from 0 in each phase.
		n = max(n, len(g.appendOrder(nil, fmt.Sprintf("s%d", max(cfg.Repetitions, 1)), max(cfg.Events-1, 0), name, largestOrder(now), 0)))
	}
	return n
}

// appendEvent appends event n of the phase tagged tag, in stream subject,
// padded to size bytes (when size allows).
func (g *generator) appendEvent(b []byte, tag string, n int, subject string, size int) []byte {
	return g.appendTyped(b, benchType, tag, n, subject, -1, size)
}

// appendTyped is appendEvent with another type, and with sent (when not
// negative) in data as "sent": the time it was sent, in Unix nanoseconds.
func (g *generator) appendTyped(b []byte, typ, tag string, n int, subject string, sent int64, size int) []byte {
	start := len(b)
	b = g.appendEnvelope(b, typ, tag, n, subject)
	b = append(b, `{"n":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	if sent >= 0 {
		b = append(b, `,"sent":`...)
		b = strconv.AppendInt(b, sent, 10)
	}
	b = append(b, `,"pad":"`...)
	const tail = `"}}`
	for pad := size - (len(b) - start) - len(tail); pad > 0; pad-- {
		b = append(b, 'x')
	}
	return append(b, tail...)
}

// appendEnvelope appends the CloudEvents attributes of event n of the
// phase tagged tag, up to and including `"data":`.
func (g *generator) appendEnvelope(b []byte, typ, tag string, n int, subject string) []byte {
	b = append(b, `{"specversion":"1.0","id":"`...)
	b = append(b, g.runID...)
	b = append(b, '-')
	b = append(b, tag...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `","source":"`+benchSource+`","type":"`...)
	b = append(b, typ...)
	b = append(b, `","subject":"`...)
	b = append(b, subject...)
	b = append(b, `","time":"`...)
	b = append(b, g.time...)
	return append(b, `","datacontenttype":"application/json","data":`...)
}

// streamPicker chooses each event's stream, uniformly at random with a
// fixed seed.
type streamPicker struct {
	names []string
	rnd   *rand2.Rand
}

func (g *generator) picker() *streamPicker {
	return &streamPicker{names: g.streams, rnd: rand2.New(rand2.NewPCG(streamSeed, streamSeed))}
}

func (p *streamPicker) next() string { return p.names[p.rnd.IntN(len(p.names))] }

// workload is a phase's requests (or messages), built before it is timed.
type workload struct {
	bodies   [][]byte // one per request (or per message for the ceiling)
	counts   []int    // events in each body
	subjects []string // per body, for the ceiling: the stream of its event
	nEvents  int
}

var (
	_ requests = (*workload)(nil)
	_ requests = (*generated)(nil)
)

func (w *workload) len() int    { return len(w.bodies) }
func (w *workload) events() int { return w.nEvents }
func (w *workload) body(i int, _ *[]byte) ([]byte, int) {
	return w.bodies[i], w.counts[i]
}

// generated is a batch workload built as it is sent, for runs too long
// to hold in memory (the RSS run): request i holds events i*size... with
// streams chosen by a hash of the event number.
type generated struct {
	g       *generator
	tag     string
	n, size int
}

func (w *generated) len() int    { return (w.n + w.size - 1) / w.size }
func (w *generated) events() int { return w.n }
func (w *generated) body(i int, scratch *[]byte) ([]byte, int) {
	return batchBody(scratch, i, w.n, w.size, func(b []byte, e int) []byte {
		return w.g.appendEvent(b, w.tag, e, w.g.streams[mix(uint64(e))%uint64(len(w.g.streams))], w.g.size)
	})
}

// batchBody builds request i of a batch workload of n events in requests
// of size events into *scratch: a JSON array of events i*size... appended
// with appendOne. It returns the body and the number of events in it.
func batchBody(scratch *[]byte, i, n, size int, appendOne func(b []byte, e int) []byte) ([]byte, int) {
	b := append((*scratch)[:0], '[')
	first := i * size
	k := min(size, n-first)
	for j := range k {
		if j > 0 {
			b = append(b, ',')
		}
		b = appendOne(b, first+j)
	}
	b = append(b, ']')
	*scratch = b
	return b, k
}

// mix is splitmix64's finalizer: a well-spread hash of x.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// batches builds n events in request bodies of size events each (a JSON
// array), choosing each event's stream with pick, in one allocation.
func (g *generator) batches(tag string, n, size int, pick func() string) *workload {
	return g.typedBatches(benchType, tag, n, size, pick)
}

// typedBatches is batches of events of type typ.
func (g *generator) typedBatches(typ, tag string, n, size int, pick func() string) *workload {
	return g.batchesOf(n, size, pick, func(b []byte, i int, subject string) []byte {
		return g.appendTyped(b, typ, tag, i, subject, -1, g.size)
	})
}

// batchesOf builds n events in request bodies of size events each (a JSON
// array), choosing each event's stream with pick and appending event i
// with appendOne, in one allocation.
func (g *generator) batchesOf(n, size int, pick func() string, appendOne func(b []byte, i int, subject string) []byte) *workload {
	reqs := (n + size - 1) / size
	arena := make([]byte, 0, n*(g.size+1)+2*reqs)
	w := &workload{bodies: make([][]byte, 0, reqs), counts: make([]int, 0, reqs), nEvents: n}
	offsets := make([]int, 0, reqs+1)
	for i := 0; i < n; i += size {
		offsets = append(offsets, len(arena))
		arena = append(arena, '[')
		k := min(size, n-i)
		for j := range k {
			if j > 0 {
				arena = append(arena, ',')
			}
			arena = appendOne(arena, i+j, pick())
		}
		arena = append(arena, ']')
		w.counts = append(w.counts, k)
	}
	offsets = append(offsets, len(arena))
	for i := range w.counts {
		w.bodies = append(w.bodies, arena[offsets[i]:offsets[i+1]:offsets[i+1]])
	}
	return w
}

// singles builds n events, one per body, with their stream names.
func (g *generator) singles(tag string, n int, pick func() string) *workload {
	arena := make([]byte, 0, n*g.size)
	w := &workload{bodies: make([][]byte, n), counts: make([]int, n), subjects: make([]string, n), nEvents: n}
	offsets := make([]int, n+1)
	for i := range n {
		offsets[i] = len(arena)
		w.subjects[i] = pick()
		arena = g.appendEvent(arena, tag, i, w.subjects[i], g.size)
		w.counts[i] = 1
	}
	offsets[n] = len(arena)
	for i := range n {
		w.bodies[i] = arena[offsets[i]:offsets[i+1]:offsets[i+1]]
	}
	return w
}
