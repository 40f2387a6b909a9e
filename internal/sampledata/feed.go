package sampledata

import (
	"bufio"
	"cmp"
	"os"
	"slices"
)

// feed writes one JSON Lines file a day at a time: the day's lines are
// collected, sorted by time (ties keep the order they were made in, which is
// deterministic) and written, so memory holds one day of one feed.
type feed struct {
	source string // TouchpointSource name
	path   string // relative to the output folder
	file   *os.File
	w      *bufio.Writer

	arena []byte
	items []item

	records   int64
	bytes     int64
	newest    int64 // Unix seconds of the newest decodable line
	hasNewest bool
	types     map[string]int64

	// Undecodable lines: a partial write followed by the full one, on the
	// first day on or after each of badDays that has a line.
	badDays     []int64
	badPending  int
	undecodable int64
}

type item struct {
	t        int64
	off, end int
}

func openFeed(dir, source, path string, badDays []int64) (*feed, error) {
	f, err := os.Create(dir + "/" + path)
	if err != nil {
		return nil, err
	}
	return &feed{source: source, path: path, file: f, w: bufio.NewWriterSize(f, 1<<20), badDays: badDays, types: map[string]int64{}}, nil
}

// add queues one line (without its newline) that happened at Unix time t.
func (f *feed) add(t int64, line []byte) {
	off := len(f.arena)
	f.arena = append(f.arena, line...)
	f.items = append(f.items, item{t: t, off: off, end: len(f.arena)})
}

// flushDay writes the queued lines of day d in time order.
func (f *feed) flushDay(d int64) error {
	for len(f.badDays) > 0 && f.badDays[0] <= d {
		f.badPending++
		f.badDays = f.badDays[1:]
	}
	slices.SortStableFunc(f.items, func(a, b item) int { return cmp.Compare(a.t, b.t) })
	mid := len(f.items) / 2
	for j, it := range f.items {
		line := f.arena[it.off:it.end]
		if j == mid && f.badPending > 0 {
			// The writer died half way through this line; the retry wrote
			// it whole on the next line.
			f.writeLine(line[:len(line)/2])
			f.badPending--
			f.undecodable++
		}
		f.writeLine(line)
		if !f.hasNewest || it.t > f.newest {
			f.newest, f.hasNewest = it.t, true
		}
	}
	f.arena = f.arena[:0]
	f.items = f.items[:0]
	return nil
}

func (f *feed) writeLine(b []byte) {
	f.w.Write(b)
	f.w.WriteByte('\n')
	f.records++
	f.bytes += int64(len(b)) + 1
}

// close writes undecodable lines still owed (a feed without lines on those
// days) and closes the file.
func (f *feed) close() error {
	for n := f.badPending + len(f.badDays); n > 0; n-- {
		f.writeLine([]byte(`{"truncated":`))
		f.undecodable++
	}
	f.badPending, f.badDays = 0, nil
	if err := f.w.Flush(); err != nil {
		f.file.Close()
		return err
	}
	return f.file.Close()
}
