//go:build !unix

package event_test

func processCPU() (int64, bool) { return 0, false }
