package runner

import (
	"sync"
)

// recordWriter writes records to the state file by group commit: a step
// hands its record over and goes on; whoever finds no write under way
// writes everything pending in one transaction, and again while more
// arrived meanwhile. A disk sync costs tens of milliseconds on ordinary
// disks, so hundreds of steps finishing together cost a handful, not
// hundreds.
type recordWriter struct {
	state *State

	mu       sync.Mutex
	idle     *sync.Cond // signalled when writing becomes false
	writing  bool
	pending  map[ObjectRef]Record
	firstErr error
}

func newRecordWriter(st *State) *recordWriter {
	w := &recordWriter{state: st, pending: map[ObjectRef]Record{}}
	w.idle = sync.NewCond(&w.mu)
	return w
}

// put queues rec, writing it (and whatever else is pending) unless a
// write is already under way, which will pick it up.
func (w *recordWriter) put(ref ObjectRef, rec Record) {
	w.mu.Lock()
	w.pending[ref] = rec
	if w.writing {
		w.mu.Unlock()
		return
	}
	w.writing = true
	w.mu.Unlock()
	w.drain()
}

// flush waits for the write under way and writes what is pending; it
// returns the first error any write met since the last flush.
func (w *recordWriter) flush() error {
	w.mu.Lock()
	for w.writing {
		w.idle.Wait()
	}
	w.writing = true
	w.mu.Unlock()
	w.drain()
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.firstErr
	w.firstErr = nil
	return err
}

// drain writes until nothing is pending. The caller has set writing.
func (w *recordWriter) drain() {
	for {
		w.mu.Lock()
		if len(w.pending) == 0 {
			w.writing = false
			w.idle.Broadcast()
			w.mu.Unlock()
			return
		}
		batch := make([]Record, 0, len(w.pending))
		for _, rec := range w.pending {
			batch = append(batch, rec)
		}
		clear(w.pending)
		w.mu.Unlock()
		if err := w.state.Put(batch...); err != nil {
			w.mu.Lock()
			if w.firstErr == nil {
				w.firstErr = err
			}
			w.mu.Unlock()
		}
	}
}
