package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/client"
	"github.com/spf13/cobra"
)

// Defaults and bounds of `load`.
const (
	defaultBatch = 500
	// defaultBatchBytes caps the input bytes of one request: large requests
	// take long to decode and replicate and risk the server's body limit.
	defaultBatchBytes = 8 << 20
	defaultParallel   = 2
	maxParallel       = 64
	// batchAttempts is how many times a batch is sent while the cluster
	// answers 503 or 504 or cannot be reached (upserts are idempotent).
	batchAttempts = 5
	batchBackoff  = 200 * time.Millisecond
	// ttyRedraw and logEvery are how often progress is redrawn on a
	// terminal and printed as a line otherwise.
	ttyRedraw = 200 * time.Millisecond
	logEvery  = 5 * time.Second
)

// loadOptions configure runLoad.
type loadOptions struct {
	// Collection receives the documents.
	Collection string
	// Batch is the number of documents per upsert request; default 500,
	// at most api.MaxBatch.
	Batch int
	// BatchBytes caps the input bytes (JSONL lines) of one request; a batch
	// is sent when it has Batch documents or BatchBytes bytes, whichever
	// comes first. Default 8 MiB, at most api.MaxBodyBytes.
	BatchBytes int
	// Parallel is the number of upsert requests in flight; default 2.
	Parallel int
	// TTY redraws the progress line in place; otherwise a progress line is
	// printed every LogEvery.
	TTY bool
	// LogEvery is the interval of progress lines when TTY is false; default
	// 5s. Negative turns progress off.
	LogEvery time.Duration
}

// loadStats summarize a load; they are printed as its last line.
type loadStats struct {
	Collection string  `json:"collection"`
	Documents  int64   `json:"documents"`
	BadLines   int64   `json:"bad_lines"`
	Rejected   int64   `json:"rejected"`
	Seconds    float64 `json:"seconds"`
	DocsPerSec float64 `json:"docs_per_sec"`
}

func newLoadCmd(a *app) *cobra.Command {
	opts := loadOptions{Batch: defaultBatch, BatchBytes: defaultBatchBytes, Parallel: defaultParallel, LogEvery: logEvery}
	cmd := &cobra.Command{
		Use:   "load FILE.jsonl[.gz] --collection C",
		Short: "Upsert the documents of a JSONL file (api.Document or {id, indices, values} lines)",
		Long: `Load reads one JSON document per line, from a plain or gzip-compressed file ("-" reads
stdin), and upserts them in batches. A line is either an api.Document
({"id","sparse","dense","multivector","attributes"}) or the dataset sparse format
{"id","indices","values"} (recognised by its top-level "indices"; other keys ignored).
Bad lines and documents the server rejects are reported with their line number and
skipped; the command then exits non-zero after loading the rest.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.TTY = a.stderrTTY
			in, size, closeIn, err := openInput(args[0])
			if err != nil {
				return err
			}
			defer closeIn()
			st, err := runLoad(cmd.Context(), a.c, in, size, opts, a.errOut)
			if werr := writeLoadStats(a.out, a.output, st); err == nil {
				err = werr
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Collection, "collection", "c", "", "collection to load into (required)")
	fl.IntVar(&opts.Batch, "batch", defaultBatch, "documents per upsert request")
	fl.IntVar(&opts.BatchBytes, "batch-bytes", defaultBatchBytes, "input bytes per upsert request: a batch is sent at --batch documents or this many bytes, whichever comes first")
	fl.IntVar(&opts.Parallel, "parallel", defaultParallel, "upsert requests in flight (1 keeps file order)")
	_ = cmd.MarkFlagRequired("collection")
	return cmd
}

func writeLoadStats(w io.Writer, format string, st loadStats) error {
	if format == outputJSON {
		return emitJSON(w, st)
	}
	_, err := fmt.Fprintf(w, "loaded %d documents into %s in %.2fs (%.0f docs/s); %d bad lines, %d rejected\n",
		st.Documents, st.Collection, st.Seconds, st.DocsPerSec, st.BadLines, st.Rejected)
	return err
}

// countingReader counts the bytes read through it, for the progress percent.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// input is an opened load file: its (decompressed) lines, its size on disk
// (0 when unknown) and how much of it has been read.
type input struct {
	r    io.Reader
	read *countingReader
}

// openInput opens path ("-" for stdin), decompressing gzip by its magic
// bytes, and returns the reader, the file size and a close function.
func openInput(path string) (*input, int64, func(), error) {
	f := os.Stdin
	var size int64
	if path != "-" {
		var err error
		if f, err = os.Open(path); err != nil {
			return nil, 0, nil, err
		}
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
	}
	in, err := newInput(f)
	if err != nil {
		f.Close()
		return nil, 0, nil, fmt.Errorf("%s: %w", path, err)
	}
	return in, size, func() { f.Close() }, nil
}

// newInput wraps r, decompressing it if it starts with the gzip magic.
func newInput(r io.Reader) (*input, error) {
	cr := &countingReader{r: r}
	br := bufio.NewReaderSize(cr, 64<<10)
	in := &input{r: br, read: cr}
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		in.r = bufio.NewReaderSize(zr, 64<<10)
	}
	return in, nil
}

// lineDoc is a load line in either format: an api.Document, or the
// dataset's {"id","indices","values"}.
type lineDoc struct {
	ID          json.RawMessage   `json:"id"`
	Sparse      *api.SparseVector `json:"sparse"`
	Dense       []float32         `json:"dense"`
	Multivector [][]float32       `json:"multivector"`
	Attributes  map[string]any    `json:"attributes"`
	Indices     []uint32          `json:"indices"`
	Values      []float32         `json:"values"`
}

// parseLine decodes one load line. Unknown keys are errors in the document
// format and ignored in the sparse dataset format.
func parseLine(b []byte) (api.Document, error) {
	var l lineDoc
	err := decodeLine(b, &l, true)
	if err != nil && strings.HasPrefix(err.Error(), "json: unknown field") {
		var lenient lineDoc
		if decodeLine(b, &lenient, false) == nil && lenient.Indices != nil {
			l, err = lenient, nil
		}
	}
	if err != nil {
		return api.Document{}, lineError(strings.TrimPrefix(err.Error(), "json: "))
	}
	id, err := docID(l.ID)
	if err != nil {
		return api.Document{}, err
	}
	d := api.Document{ID: id, Sparse: l.Sparse, Dense: l.Dense, Multivector: l.Multivector, Attributes: l.Attributes}
	if l.Indices != nil || l.Values != nil {
		if l.Sparse != nil {
			return api.Document{}, errors.New(`both "sparse" and top-level "indices"/"values"`)
		}
		if len(l.Indices) != len(l.Values) {
			return api.Document{}, fmt.Errorf("%d indices but %d values", len(l.Indices), len(l.Values))
		}
		d.Sparse = &api.SparseVector{Indices: l.Indices, Values: l.Values}
		if d.Sparse.Indices == nil {
			d.Sparse.Indices = []uint32{}
		}
		if d.Sparse.Values == nil {
			d.Sparse.Values = []float32{}
		}
	}
	return d, nil
}

// lineError is a load line that cannot be decoded.
type lineError string

func (e lineError) Error() string { return string(e) }

func decodeLine(b []byte, v *lineDoc, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if strict {
		dec.DisallowUnknownFields()
	}
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the object")
	}
	return nil
}

// docID accepts a string id, or a number written as its JSON text.
func docID(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", errors.New(`missing "id"`)
	}
	var s string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("id: %v", err)
		}
	} else {
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", errors.New(`"id" is neither a string nor a number`)
		}
		s = n.String()
	}
	if s == "" {
		return "", errors.New(`empty "id"`)
	}
	return s, nil
}

// batch is documents to upsert with the line number of each.
type batch struct {
	docs  []api.Document
	lines []int
	bytes int // input bytes of the documents' lines
}

func (b *batch) remove(i int) {
	b.docs = append(b.docs[:i], b.docs[i+1:]...)
	b.lines = append(b.lines[:i], b.lines[i+1:]...)
}

func (b *batch) span() string {
	if len(b.lines) == 0 {
		return "empty batch"
	}
	return fmt.Sprintf("lines %d-%d", b.lines[0], b.lines[len(b.lines)-1])
}

// loader is the state of one runLoad.
type loader struct {
	c     *client.Client
	opts  loadOptions
	in    *input
	size  int64
	start time.Time

	done     atomic.Int64
	bad      atomic.Int64
	rejected atomic.Int64

	mu     sync.Mutex // guards errOut and drawn
	errOut io.Writer
	drawn  bool // a progress line is on screen without a newline
}

// runLoad upserts every document of in into opts.Collection, printing
// progress and bad lines on errOut. It returns the stats even on error.
func runLoad(ctx context.Context, c *client.Client, in *input, size int64, opts loadOptions, errOut io.Writer) (loadStats, error) {
	switch {
	case opts.Collection == "":
		return loadStats{}, fmt.Errorf("%w: --collection is required", errUsage)
	case opts.Batch < 1 || opts.Batch > api.MaxBatch:
		return loadStats{}, fmt.Errorf("%w: --batch %d: want 1..%d", errUsage, opts.Batch, api.MaxBatch)
	case opts.BatchBytes < 0 || opts.BatchBytes > api.MaxBodyBytes:
		return loadStats{}, fmt.Errorf("%w: --batch-bytes %d: want 0 (default) to %d", errUsage, opts.BatchBytes, api.MaxBodyBytes)
	case opts.Parallel < 1 || opts.Parallel > maxParallel:
		return loadStats{}, fmt.Errorf("%w: --parallel %d: want 1..%d", errUsage, opts.Parallel, maxParallel)
	}
	if opts.BatchBytes == 0 {
		opts.BatchBytes = defaultBatchBytes
	}
	l := &loader{c: c, opts: opts, in: in, size: size, errOut: errOut, start: time.Now()}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	work := make(chan *batch, opts.Parallel)
	var wg sync.WaitGroup
	for range opts.Parallel {
		wg.Go(func() {
			for b := range work {
				if ctx.Err() != nil {
					continue // drain after a failure
				}
				if err := l.send(ctx, b); err != nil {
					cancel(err)
				}
			}
		})
	}
	stopProgress := l.progress()
	readErr := l.read(ctx, work)
	close(work)
	wg.Wait()
	stopProgress()

	st := l.stats()
	err := context.Cause(ctx)
	if errors.Is(err, context.Canceled) && readErr != nil {
		err = readErr
	}
	if err == nil {
		err = readErr
	}
	if err == nil && st.BadLines+st.Rejected > 0 {
		err = fmt.Errorf("%d bad lines and %d rejected documents were skipped (reported above)", st.BadLines, st.Rejected)
	}
	return st, err
}

func (l *loader) stats() loadStats {
	secs := time.Since(l.start).Seconds()
	st := loadStats{Collection: l.opts.Collection, Documents: l.done.Load(), BadLines: l.bad.Load(), Rejected: l.rejected.Load(), Seconds: secs}
	if secs > 0 {
		st.DocsPerSec = float64(st.Documents) / secs
	}
	return st
}

// read splits the input into batches and hands them to work.
func (l *loader) read(ctx context.Context, work chan<- *batch) error {
	r := bufio.NewReader(l.in.r)
	b := &batch{}
	for lineNo := 1; ; lineNo++ {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			d, perr := parseLine(line)
			if perr != nil {
				l.bad.Add(1)
				l.report("line %d: %v", lineNo, perr)
			} else {
				b.docs = append(b.docs, d)
				b.lines = append(b.lines, lineNo)
				b.bytes += len(line)
			}
		}
		if len(b.docs) == l.opts.Batch || b.bytes >= l.opts.BatchBytes || (err != nil && len(b.docs) > 0) {
			select {
			case work <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
			b = &batch{}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", lineNo, err)
		}
	}
}

// send upserts b. It drops and reports documents the server rejects by
// field, splits the batch when it is too large, and retries while the
// cluster is unavailable.
func (l *loader) send(ctx context.Context, b *batch) error {
	wait := batchBackoff
	for attempt := 1; len(b.docs) > 0; attempt++ {
		_, err := l.c.Upsert(ctx, l.opts.Collection, b.docs)
		if err == nil {
			l.done.Add(int64(len(b.docs)))
			return nil
		}
		var e *client.Error
		isAPI := errors.As(err, &e)
		switch {
		case isAPI && e.Code == api.CodeBadRequest:
			i, rest, ok := docIndex(e.Field)
			if !ok || i >= len(b.docs) {
				return fmt.Errorf("%s: %w", b.span(), err)
			}
			l.rejected.Add(1)
			msg := e.Message
			if rest != "" {
				msg = rest + ": " + msg
			}
			l.report("line %d: rejected: %s", b.lines[i], msg)
			b.remove(i)
			attempt = 0
			continue
		case isAPI && e.Code == api.CodeTooLarge && len(b.docs) > 1:
			h := len(b.docs) / 2
			first := &batch{docs: b.docs[:h], lines: b.lines[:h]}
			if err := l.send(ctx, first); err != nil {
				return err
			}
			return l.send(ctx, &batch{docs: b.docs[h:], lines: b.lines[h:]})
		case ctx.Err() != nil:
			return ctx.Err()
		case attempt < batchAttempts && (!isAPI || e.Code == api.CodeUnavailable || e.Code == api.CodeTimeout):
			l.report("%s: %v; retrying in %v", b.span(), err, wait)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			wait *= 2
			continue
		}
		return fmt.Errorf("%s: %w", b.span(), err)
	}
	return nil
}

// docIndex reads "documents[3].dense[7]" as 3 and "dense[7]".
func docIndex(field string) (int, string, bool) {
	rest, ok := strings.CutPrefix(field, "documents[")
	if !ok {
		return 0, "", false
	}
	num, rest, ok := strings.Cut(rest, "]")
	if !ok {
		return 0, "", false
	}
	i, err := strconv.Atoi(num)
	if err != nil || i < 0 {
		return 0, "", false
	}
	return i, strings.TrimPrefix(rest, "."), true
}

// report prints one message line on errOut, above the progress line.
func (l *loader) report(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.drawn {
		fmt.Fprint(l.errOut, "\r\033[K")
		l.drawn = false
	}
	fmt.Fprintf(l.errOut, format+"\n", a...)
}

// progressText is the progress figure: documents, percent of the input,
// and docs/s.
func (l *loader) progressText() string {
	st := l.stats()
	s := fmt.Sprintf("%d docs", st.Documents)
	if l.size > 0 {
		s += fmt.Sprintf("  %5.1f%%", 100*min(1, float64(l.in.read.n.Load())/float64(l.size)))
	}
	return s + fmt.Sprintf("  %.0f docs/s", st.DocsPerSec)
}

// progress starts the progress printer and returns the function that stops
// it (and waits for it).
func (l *loader) progress() func() {
	every := l.opts.LogEvery
	if l.opts.TTY {
		every = ttyRedraw
	}
	if every <= 0 {
		return func() {}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				if l.opts.TTY {
					l.mu.Lock()
					if l.drawn {
						fmt.Fprint(l.errOut, "\r\033[K")
						l.drawn = false
					}
					l.mu.Unlock()
				}
				return
			case <-t.C:
			}
			text := l.progressText()
			l.mu.Lock()
			if l.opts.TTY {
				fmt.Fprint(l.errOut, "\r\033[K"+bar(l)+" "+text)
				l.drawn = true
			} else {
				fmt.Fprintln(l.errOut, "progress: "+text)
			}
			l.mu.Unlock()
		}
	})
	return func() {
		close(stop)
		wg.Wait()
	}
}

// bar draws a 30-cell bar of the input read so far, or nothing when the
// size is unknown.
func bar(l *loader) string {
	if l.size <= 0 {
		return ""
	}
	const cells = 30
	n := int(cells * min(1, float64(l.in.read.n.Load())/float64(l.size)))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", cells-n) + "]"
}
