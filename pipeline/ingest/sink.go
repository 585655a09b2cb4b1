package ingest

import (
	"bufio"
	"fmt"

	"github.com/datalabhq/datalab/pipeline/atomicfile"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// RowGroupRows is the fixed number of rows per Parquet row group. A fixed
// count (rather than a byte target) keeps outputs byte-identical across runs
// and machines; 256Ki flight rows compress to a few MiB, large enough for
// efficient scans and small enough to keep the writer's memory bounded.
const RowGroupRows = 256 * 1024

// SchemaMetadataKey is the Parquet key-value metadata entry naming the
// datalab schema (and its version) a file was written with.
const SchemaMetadataKey = "datalab.schema"

const sinkBatch = 4096

// parquetSink streams rows of T into a zstd-compressed Parquet file that is
// published atomically on commit.
type parquetSink[T any] struct {
	f   *atomicfile.File
	bw  *bufio.Writer
	w   *parquet.GenericWriter[T]
	buf []T
}

func newParquetSink[T any](path, schema string) (*parquetSink[T], error) {
	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := parquet.NewGenericWriter[T](bw,
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedDefault}),
		parquet.MaxRowsPerRowGroup(RowGroupRows),
		parquet.KeyValueMetadata(SchemaMetadataKey, schema),
	)
	return &parquetSink[T]{f: f, bw: bw, w: w, buf: make([]T, 0, sinkBatch)}, nil
}

func (s *parquetSink[T]) add(row T) error {
	s.buf = append(s.buf, row)
	if len(s.buf) == cap(s.buf) {
		return s.flush()
	}
	return nil
}

func (s *parquetSink[T]) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	if _, err := s.w.Write(s.buf); err != nil {
		return fmt.Errorf("write parquet %s: %w", s.f.Path(), err)
	}
	clear(s.buf) // drop references to strings of written rows
	s.buf = s.buf[:0]
	return nil
}

// commit writes the footer and publishes the file.
func (s *parquetSink[T]) commit() error {
	if err := s.flush(); err != nil {
		s.f.Abort()
		return err
	}
	if err := s.w.Close(); err != nil {
		s.f.Abort()
		return fmt.Errorf("close parquet %s: %w", s.f.Path(), err)
	}
	if err := s.bw.Flush(); err != nil {
		s.f.Abort()
		return fmt.Errorf("write parquet %s: %w", s.f.Path(), err)
	}
	return s.f.Commit()
}

// abort discards the output; safe after commit.
func (s *parquetSink[T]) abort() { s.f.Abort() }
