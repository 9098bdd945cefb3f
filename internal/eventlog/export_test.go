package eventlog

// StaleReads is the number of reads whose direct answer missed records the
// stream leader then supplied.
func (l *JetStream) StaleReads() uint64 { return l.staleReads.Load() }
