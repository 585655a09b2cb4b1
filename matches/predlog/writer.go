package predlog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Sink stores a batch of entries; *Log is the real one.
type Sink interface {
	Insert(ctx context.Context, entries []Entry) error
}

// WriterOptions tune a Writer; zero fields take the defaults.
type WriterOptions struct {
	// Capacity bounds the entries held in memory, queued or being written
	// (default 10,000). When it is reached while writes succeed, Enqueue
	// waits for room (see FullWait); while they fail, or once FullWait has
	// passed, the oldest queued entry is dropped and counted.
	Capacity int
	// BatchSize is the most entries written in one transaction (default
	// 5000). Larger transactions are cheaper per entry — the usage counters
	// get one upsert per key, however many entries share it — which is what
	// lets a writer that fell behind catch up.
	BatchSize int
	// FlushInterval lets entries gather before they are written: a batch
	// is written once its oldest entry has waited this long, or sooner when
	// BatchSize entries are queued or Close begins. Zero writes as soon as
	// an entry arrives. A transaction costs the database about the same
	// whether it holds one entry or hundreds, so under load gathering cuts
	// the log's cost per prediction several times; the price is that the
	// database (and the dashboard) sees an entry up to this much later.
	FlushInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries of a failed
	// batch; the wait doubles after each failure (defaults 50 ms and 5 s).
	MinBackoff, MaxBackoff time.Duration
	// WriteTimeout bounds one batch write (default 10 s).
	WriteTimeout time.Duration
	// FullWait is how long Enqueue waits for room in a full buffer while
	// the writer's batches succeed — the log is only behind, as when a
	// saturated server leaves the writer little CPU — so that the request
	// waits instead of a prediction being lost, and the server slows to
	// what its log sustains. A failing database never makes Enqueue wait.
	// Zero means 1 s; negative never waits (drop at once, as while
	// failing).
	FullWait time.Duration
	// Logger receives a warning when writes start failing and a note when
	// they recover (not one line per retry); nil uses slog.Default().
	Logger *slog.Logger
}

func (o *WriterOptions) defaults() {
	if o.Capacity <= 0 {
		o.Capacity = 10_000
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 5000
	}
	if o.BatchSize > o.Capacity {
		o.BatchSize = o.Capacity
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 50 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(5*time.Second, o.MinBackoff)
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.FullWait == 0 {
		o.FullWait = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// WriterStats are a Writer's running totals.
type WriterStats struct {
	// Enqueued counts entries handed to Enqueue.
	Enqueued int64
	// Written counts entries stored in the database.
	Written int64
	// Dropped counts entries lost: pushed out of a full buffer, or
	// enqueued after Close.
	Dropped int64
	// Waited counts Enqueue calls that waited for room in a full buffer.
	Waited int64
	// Failures counts failed batch writes (each retry that fails counts).
	Failures int64
	// Pending is the number of entries in memory, queued or being written.
	Pending int64
}

// Writer stores entries asynchronously: Enqueue never blocks on a failing
// database, and waits at most FullWait for room while the writes succeed
// but lag. One goroutine drains the buffer in batches; a failed batch is
// retried with exponential backoff until it succeeds or Close gives up.
type Writer struct {
	sink Sink
	opts WriterOptions

	mu       sync.Mutex
	queue    []Entry   // FIFO; queue[0] is the oldest
	since    time.Time // when the queue last went from empty to not empty
	inflight int       // entries taken by the drain goroutine, not yet written
	closed   bool
	failing  bool          // the last batch write failed
	room     chan struct{} // closed (and replaced) when Enqueue may find room

	wake    chan struct{} // capacity 1: "the queue has something"
	full    chan struct{} // capacity 1: "the queue holds a whole batch"
	closing chan struct{} // closed by Close: flush and stop
	// abort is cancelled when Close's context ends: stop retrying.
	abort       context.Context
	cancelAbort context.CancelFunc
	done        chan struct{} // closed when the drain goroutine exits

	enqueued, written, dropped, waited, failures atomic.Int64
}

// NewWriter starts a writer draining into sink.
func NewWriter(sink Sink, opts WriterOptions) *Writer {
	opts.defaults()
	w := &Writer{
		sink:    sink,
		opts:    opts,
		wake:    make(chan struct{}, 1),
		full:    make(chan struct{}, 1),
		room:    make(chan struct{}),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	w.abort, w.cancelAbort = context.WithCancel(context.Background())
	go w.run()
	return w
}

// Enqueue queues e for writing. If the buffer is full while writes succeed
// it waits for room, at most FullWait. If it is still full, or writes are
// failing, the oldest queued entry is dropped (and counted) to make room:
// recent predictions matter more to the dashboard than old ones, and memory
// stays bounded. After Close the entry is dropped.
func (w *Writer) Enqueue(e Entry) {
	w.enqueued.Add(1)
	w.mu.Lock()
	w.waitForRoom()
	if w.closed {
		w.mu.Unlock()
		w.dropped.Add(1)
		return
	}
	if len(w.queue)+w.inflight >= w.opts.Capacity {
		if len(w.queue) == 0 {
			// Everything held is in flight (Capacity == BatchSize): the new
			// entry is the one that cannot fit.
			w.mu.Unlock()
			w.dropped.Add(1)
			return
		}
		w.queue[0] = Entry{}
		w.queue = w.queue[1:]
		w.dropped.Add(1)
	}
	if len(w.queue) == 0 {
		w.since = time.Now()
	}
	w.queue = append(w.queue, e)
	full := len(w.queue) >= w.opts.BatchSize
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	if full {
		select {
		case w.full <- struct{}{}:
		default:
		}
	}
}

// isFull reports whether the buffer holds Capacity entries (w.mu held).
func (w *Writer) isFull() bool { return len(w.queue)+w.inflight >= w.opts.Capacity }

// waitForRoom waits, with w.mu held (and released while waiting), until
// the buffer has room, a write fails, Close begins, or FullWait passes.
func (w *Writer) waitForRoom() {
	if w.opts.FullWait < 0 || !w.isFull() || w.closed || w.failing {
		return
	}
	w.waited.Add(1)
	t := time.NewTimer(w.opts.FullWait)
	defer t.Stop()
	for w.isFull() && !w.closed && !w.failing {
		room := w.room
		w.mu.Unlock()
		select {
		case <-room:
			w.mu.Lock()
		case <-t.C:
			w.mu.Lock()
			return
		}
	}
}

// signalRoom wakes the Enqueue calls waiting for room (w.mu held).
func (w *Writer) signalRoom() {
	close(w.room)
	w.room = make(chan struct{})
}

// Stats returns the running totals.
func (w *Writer) Stats() WriterStats {
	w.mu.Lock()
	pending := int64(len(w.queue) + w.inflight)
	w.mu.Unlock()
	return WriterStats{
		Enqueued: w.enqueued.Load(),
		Written:  w.written.Load(),
		Dropped:  w.dropped.Load(),
		Waited:   w.waited.Load(),
		Failures: w.failures.Load(),
		Pending:  pending,
	}
}

// Close stops accepting entries and writes everything still buffered,
// retrying until ctx is done. It returns an error naming how many entries
// were not written if ctx ends first.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	w.closed = true
	w.signalRoom()
	w.mu.Unlock()
	close(w.closing)
	select {
	case <-w.done:
	case <-ctx.Done():
		w.cancelAbort() // interrupts the write in progress and the retry wait
		<-w.done
	}
	w.cancelAbort()
	if s := w.Stats(); s.Pending > 0 {
		return fmt.Errorf("prediction log: %d entries not written before shutdown: %w", s.Pending, ctx.Err())
	}
	return nil
}

// gather waits, when FlushInterval is set, until the queue's oldest entry
// has waited FlushInterval, a whole batch is queued, or Close begins
// (closing is closed).
func (w *Writer) gather(closing <-chan struct{}) {
	if w.opts.FlushInterval <= 0 || closing == nil {
		return
	}
	select { // a signal left from a batch already taken
	case <-w.full:
	default:
	}
	w.mu.Lock()
	n, since := len(w.queue), w.since
	w.mu.Unlock()
	if n == 0 || n >= w.opts.BatchSize {
		return
	}
	wait := w.opts.FlushInterval - time.Since(since)
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-w.full:
	case <-closing:
	case <-w.abort.Done():
	}
}

// take moves up to BatchSize entries from the queue into flight.
func (w *Writer) take() []Entry {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := min(len(w.queue), w.opts.BatchSize)
	if n == 0 {
		return nil
	}
	batch := make([]Entry, n)
	copy(batch, w.queue)
	clear(w.queue[:n])
	w.queue = w.queue[n:]
	if len(w.queue) == 0 {
		w.queue = nil // let the backing array go
	}
	w.inflight = n
	return batch
}

// finish ends a successful batch write: its entries leave memory.
func (w *Writer) finish() {
	w.mu.Lock()
	w.inflight = 0
	w.failing = false
	w.signalRoom()
	w.mu.Unlock()
}

// fail records a failed batch write: Enqueue stops waiting for room and
// drops the oldest entries instead, so serving never waits on a database
// that is down.
func (w *Writer) fail() {
	w.mu.Lock()
	w.failing = true
	w.signalRoom()
	w.mu.Unlock()
}

func (w *Writer) run() {
	defer close(w.done)
	closing := w.closing
	backoff := w.opts.MinBackoff
	failing := false
	for {
		if w.abort.Err() != nil {
			return
		}
		w.gather(closing)
		batch := w.take()
		if batch == nil {
			if closing == nil {
				return
			}
			select {
			case <-w.wake:
			case <-closing:
				closing = nil // drain what is left, then stop
			}
			continue
		}
		for {
			ctx, cancel := context.WithTimeout(w.abort, w.opts.WriteTimeout)
			err := w.sink.Insert(ctx, batch)
			cancel()
			if err == nil {
				w.written.Add(int64(len(batch)))
				w.finish()
				if failing {
					w.opts.Logger.Info("prediction log writes recovered", "written", len(batch))
					failing = false
				}
				backoff = w.opts.MinBackoff
				break
			}
			w.failures.Add(1)
			w.fail()
			if !failing {
				w.opts.Logger.Warn("prediction log write failed; buffering and retrying", "entries", len(batch), "err", err)
				failing = true
			} else {
				w.opts.Logger.Debug("prediction log write retry failed", "entries", len(batch), "err", err)
			}
			select {
			case <-time.After(backoff):
			case <-w.abort.Done():
				// The batch stays counted as pending, so Close reports it.
				return
			}
			backoff = min(2*backoff, w.opts.MaxBackoff)
		}
	}
}
