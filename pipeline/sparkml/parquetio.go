package sparkml

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/parquet-go/parquet-go/format"
)

// Spark's Parquet key-value metadata keys.
const (
	// RowMetadataKey holds the Spark SQL StructType (JSON) of the rows;
	// Spark reads the file back with these types.
	RowMetadataKey = "org.apache.spark.sql.parquet.row.metadata"
	// VersionMetadataKey holds the writing Spark version (Spark 3.0+).
	VersionMetadataKey = "org.apache.spark.version"
)

// sqlType is a Spark SQL data type of a saved column: one of the primitive
// names "integer", "long", "double", "string", or an array or struct.
type sqlType struct {
	name         string // primitive name, "array" or "struct"
	elem         *sqlType
	containsNull bool
	fields       []sqlField
}

// sqlField is a StructField: name, type and nullability.
type sqlField struct {
	name     string
	typ      sqlType
	nullable bool
}

var (
	sqlInteger = sqlType{name: "integer"}
	sqlLong    = sqlType{name: "long"}
	sqlDouble  = sqlType{name: "double"}
	sqlString  = sqlType{name: "string"}
)

func sqlArray(elem sqlType, containsNull bool) sqlType {
	return sqlType{name: "array", elem: &elem, containsNull: containsNull}
}

func sqlStruct(fields ...sqlField) sqlType { return sqlType{name: "struct", fields: fields} }

// json renders the type as Spark's DataType.json does.
func (t sqlType) json() []byte {
	switch t.name {
	case "array":
		return encodeObject([]jsonField{
			{"type", jsonString("array")},
			{"elementType", t.elem.json()},
			{"containsNull", jsonBool(t.containsNull)},
		})
	case "struct":
		fields := make([]byte, 0, 256)
		fields = append(fields, '[')
		for i, f := range t.fields {
			if i > 0 {
				fields = append(fields, ',')
			}
			fields = append(fields, encodeObject([]jsonField{
				{"name", jsonString(f.name)},
				{"type", f.typ.json()},
				{"nullable", jsonBool(f.nullable)},
				{"metadata", []byte("{}")},
			})...)
		}
		fields = append(fields, ']')
		return encodeObject([]jsonField{{"type", jsonString("struct")}, {"fields", fields}})
	}
	return jsonString(t.name)
}

// node maps the type to the Parquet node Spark's ParquetSchemaConverter
// writes (non-legacy format): int32/int64 without logical-type annotation,
// strings as UTF8 binary, arrays as the three-level LIST structure
// "group (LIST) { repeated group list { element } }", structs as groups in
// field order.
func (t sqlType) node() parquet.Node {
	switch t.name {
	case "integer":
		return parquet.Leaf(unannotated{parquet.Int32Type})
	case "long":
		return parquet.Leaf(unannotated{parquet.Int64Type})
	case "double":
		return parquet.Leaf(unannotated{parquet.DoubleType})
	case "string":
		return parquet.String()
	case "array":
		elem := t.elem.node()
		if t.containsNull {
			elem = parquet.Optional(elem)
		} else {
			elem = parquet.Required(elem)
		}
		return parquet.List(elem)
	case "struct":
		g := make(orderedGroup, len(t.fields))
		for i, f := range t.fields {
			g[i] = f.parquetField()
		}
		return g
	}
	panic("sparkml: unknown sql type " + t.name)
}

func (f sqlField) parquetField() parquet.Field {
	n := f.typ.node()
	if f.nullable {
		n = parquet.Optional(n)
	} else {
		n = parquet.Required(n)
	}
	return namedField{Node: n, name: f.name}
}

// unannotated is a fixed-size physical type written the way parquet-mr
// writes it: without a logical type (Spark writes IntegerType as a bare
// int32 and LongType as a bare int64, where parquet-go would annotate them
// INT(32,true)/INT(64,true)) and without a type_length (which the format
// reserves for FIXED_LEN_BYTE_ARRAY; parquet-go sets it to the bit width).
type unannotated struct{ parquet.Type }

// LogicalType reports no logical type.
func (unannotated) LogicalType() *format.LogicalType { return nil }

// Length reports 0 so that no type_length is written.
func (unannotated) Length() int { return 0 }

// orderedGroup is a Parquet group whose fields keep their declared order
// (parquet.Group sorts fields by name; Spark's schema order must be kept).
type orderedGroup []parquet.Field

func (g orderedGroup) ID() int                              { return 0 }
func (g orderedGroup) String() string                       { return fmt.Sprintf("group(%d fields)", len(g)) }
func (g orderedGroup) Type() parquet.Type                   { return parquet.Group{}.Type() }
func (g orderedGroup) Optional() bool                       { return false }
func (g orderedGroup) Repeated() bool                       { return false }
func (g orderedGroup) Required() bool                       { return true }
func (g orderedGroup) Leaf() bool                           { return false }
func (g orderedGroup) Fields() []parquet.Field              { return g }
func (g orderedGroup) Encoding() encoding.Encoding          { return nil }
func (g orderedGroup) Compression() compress.Codec          { return nil }
func (g orderedGroup) GoType() reflect.Type                 { return reflect.TypeFor[map[string]any]() }
func (f namedField) Name() string                           { return f.name }
func (f namedField) Value(base reflect.Value) reflect.Value { return fieldByParquetName(base, f.name) }

// namedField gives a node its field name within a group.
type namedField struct {
	parquet.Node
	name string
}

// fieldByParquetName finds the struct field tagged `parquet:"name"` (or
// the map entry name) in base.
func fieldByParquetName(base reflect.Value, name string) reflect.Value {
	for base.Kind() == reflect.Pointer || base.Kind() == reflect.Interface {
		if base.IsNil() {
			return reflect.Value{}
		}
		base = base.Elem()
	}
	switch base.Kind() {
	case reflect.Struct:
		t := base.Type()
		for i := range t.NumField() {
			tag, _, _ := strings.Cut(t.Field(i).Tag.Get("parquet"), ",")
			if tag == name || (tag == "" && t.Field(i).Name == name) {
				return base.Field(i)
			}
		}
	case reflect.Map:
		return base.MapIndex(reflect.ValueOf(name))
	}
	return reflect.Value{}
}

// sparkSchema is the Parquet schema of rows of type fields, as Spark names
// it ("spark_schema").
func sparkSchema(fields []sqlField) *parquet.Schema {
	return parquet.NewSchema("spark_schema", sqlStruct(fields...).node())
}

// writeParquetFile writes rows (structs tagged with the Spark column names)
// to path with Spark's schema, snappy compression, v1 data pages and Spark's
// key-value metadata.
func writeParquetFile[T any](path string, fields []sqlField, rows []T, sparkVersion string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	opts := []parquet.WriterOption{
		sparkSchema(fields),
		parquet.Compression(&parquet.Snappy),
		parquet.DataPageVersion(1),
		parquet.CreatedBy("datalab", "1", "sparkml"),
		parquet.KeyValueMetadata(RowMetadataKey, string(sqlStruct(fields...).json())),
	}
	if major, _, err := SparkMajorMinor(sparkVersion); err == nil && major >= 3 {
		opts = append(opts, parquet.KeyValueMetadata(VersionMetadataKey, sparkVersion))
	}
	// Rows go through `any` so that parquet-go maps them onto the Spark
	// schema by column name instead of deriving a schema from T.
	vals := make([]any, len(rows))
	for i := range rows {
		vals[i] = rows[i]
	}
	w := parquet.NewGenericWriter[any](f, opts...)
	if _, err := w.Write(vals); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := w.Close(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// sparkPartName is a Spark-style data file name, part-00000-<uuid>-c000
// with ext; the uuid is derived from seed so that the same model is always
// written with the same file names.
func sparkPartName(seed, ext string) string {
	h := sha256.Sum256([]byte(seed))
	h[6] = h[6]&0x0f | 0x40 // version 4 layout
	h[8] = h[8]&0x3f | 0x80 // RFC 4122 variant
	x := hex.EncodeToString(h[:16])
	return fmt.Sprintf("part-00000-%s-%s-%s-%s-%s-c000%s", x[0:8], x[8:12], x[12:16], x[16:20], x[20:32], ext)
}

// table is an open Parquet file read generically by column path, so that
// files from every Spark version (with or without rawCount, any column
// order) are read by the same code.
type table struct {
	path   string
	file   *parquet.File
	schema *parquet.Schema
}

// column is one leaf column of a table.
type column struct {
	name  string
	index int
	kind  parquet.Kind
	// maxDef and maxRep are the leaf's maximum definition and repetition
	// levels.
	maxDef, maxRep int
}

// openTable opens a Parquet file; a damaged or truncated file is an error
// naming the file.
func openTable(path string) (t *table, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	// The whole file is read into memory: Spark model files are small and
	// the file can then be closed before it is decoded.
	data := make([]byte, st.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("%s: read: %w", path, err)
	}
	return openTableBytes(path, data)
}

// openTableBytes opens Parquet data held in memory; path names it in errors.
func openTableBytes(path string, data []byte) (t *table, err error) {
	defer recoverCorrupt(path, &err)
	if len(data) < 12 || string(data[:4]) != "PAR1" || string(data[len(data)-4:]) != "PAR1" {
		return nil, fmt.Errorf("%s: truncated parquet file: %d bytes, missing the PAR1 header or footer magic", path, len(data))
	}
	// A damaged footer length would make the decoder allocate up to 4 GiB
	// before failing; check it against the file size first.
	if footer := binary.LittleEndian.Uint32(data[len(data)-8:]); int64(footer) > int64(len(data)-12) {
		return nil, fmt.Errorf("%s: truncated parquet file: footer of %d bytes does not fit in the %d-byte file", path, footer, len(data))
	}
	pf, err := parquet.OpenFile(bytesReaderAt(data), int64(len(data)), parquet.SkipBloomFilters(true), parquet.SkipPageIndex(true))
	if err != nil {
		return nil, fmt.Errorf("%s: corrupt parquet file: %w", path, err)
	}
	if err := checkFooter(pf, int64(len(data))); err != nil {
		return nil, fmt.Errorf("%s: corrupt parquet file: %w", path, err)
	}
	return &table{path: path, file: pf, schema: pf.Schema()}, nil
}

// maxDecodedBytes bounds the decoded size of one column chunk: Spark model
// tables are small, and a damaged size field must not make the decoder
// allocate gigabytes.
const maxDecodedBytes = 1 << 28

// checkFooter rejects footers whose sizes cannot describe this file.
func checkFooter(pf *parquet.File, size int64) error {
	md := pf.Metadata()
	if md.NumRows < 0 || md.NumRows > 1<<28 {
		return fmt.Errorf("footer claims %d rows", md.NumRows)
	}
	var rows int64
	for i, rg := range md.RowGroups {
		rows += rg.NumRows
		for _, c := range rg.Columns {
			cm := c.MetaData
			start := cm.DataPageOffset
			if cm.DictionaryPageOffset > 0 && cm.DictionaryPageOffset < start {
				start = cm.DictionaryPageOffset
			}
			switch {
			case start < 4 || cm.TotalCompressedSize < 0 || start+cm.TotalCompressedSize > size:
				return fmt.Errorf("row group %d column %v lies outside the %d-byte file", i, cm.PathInSchema, size)
			case cm.TotalUncompressedSize < 0 || cm.TotalUncompressedSize > maxDecodedBytes:
				return fmt.Errorf("row group %d column %v claims %d decoded bytes", i, cm.PathInSchema, cm.TotalUncompressedSize)
			case cm.NumValues < 0 || cm.NumValues > maxDecodedBytes:
				return fmt.Errorf("row group %d column %v claims %d values", i, cm.PathInSchema, cm.NumValues)
			}
		}
	}
	if rows != md.NumRows {
		return fmt.Errorf("row groups hold %d rows, footer says %d", rows, md.NumRows)
	}
	return nil
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(b)) {
		return 0, fmt.Errorf("read at offset %d outside the %d-byte file", off, len(b))
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// recoverCorrupt turns a panic inside the Parquet decoder (malformed input
// can reach one) into an error naming the file.
func recoverCorrupt(path string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: corrupt parquet file: decoder failed: %v", path, r)
	}
}

// keyValue returns the file's key-value metadata entry key.
func (t *table) keyValue(key string) (string, bool) {
	return t.file.Lookup(key)
}

// has reports whether the leaf column at dotted path exists.
func (t *table) has(path string) bool {
	_, ok := t.schema.Lookup(strings.Split(path, ".")...)
	return ok
}

// column looks up the leaf column at dotted path and checks its kind.
func (t *table) column(path string, kind parquet.Kind) (column, error) {
	leaf, ok := t.schema.Lookup(strings.Split(path, ".")...)
	if !ok || !leaf.Node.Leaf() {
		return column{}, fmt.Errorf("%s: parquet schema has no column %s (have %s)", t.path, path, t.columnNames())
	}
	if k := leaf.Node.Type().Kind(); k != kind {
		return column{}, fmt.Errorf("%s: column %s has type %v, want %v", t.path, path, k, kind)
	}
	return column{name: path, index: leaf.ColumnIndex, kind: kind, maxDef: leaf.MaxDefinitionLevel, maxRep: leaf.MaxRepetitionLevel}, nil
}

func (t *table) columnNames() string {
	var names []string
	for _, c := range t.schema.Columns() {
		names = append(names, strings.Join(c, "."))
	}
	return strings.Join(names, ", ")
}

// rows calls fn for every row, with the row's values grouped by leaf
// column index. Reading stops at the first error.
func (t *table) rows(fn func(r rowValues) error) (err error) {
	defer recoverCorrupt(t.path, &err)
	ncols := len(t.schema.Columns())
	byCol := make(rowValues, ncols)
	buf := make([]parquet.Row, 64)
	n := 0
	for _, rg := range t.file.RowGroups() {
		rr := rg.Rows()
		for {
			k, rerr := rr.ReadRows(buf)
			for _, row := range buf[:k] {
				for c := range byCol {
					byCol[c] = byCol[c][:0]
				}
				for _, v := range row {
					c := v.Column()
					if c < 0 || c >= ncols {
						rr.Close()
						return fmt.Errorf("%s: corrupt parquet file: row %d has a value for column %d of %d", t.path, n, c, ncols)
					}
					byCol[c] = append(byCol[c], v)
				}
				if err := fn(byCol); err != nil {
					rr.Close()
					return fmt.Errorf("%s: row %d: %w", t.path, n, err)
				}
				n++
			}
			if rerr != nil {
				rr.Close()
				if errors.Is(rerr, io.EOF) {
					break
				}
				return fmt.Errorf("%s: corrupt parquet file: row %d: %w", t.path, n, rerr)
			}
		}
	}
	if int64(n) != t.file.NumRows() {
		return fmt.Errorf("%s: corrupt parquet file: read %d rows, footer says %d", t.path, n, t.file.NumRows())
	}
	return nil
}

// rowValues holds one row's values per leaf column index.
type rowValues [][]parquet.Value

// scalar returns the value of a non-repeated column; ok is false when the
// value (or an enclosing struct) is null.
func (r rowValues) scalar(c column) (parquet.Value, bool, error) {
	vs := r[c.index]
	if len(vs) != 1 {
		return parquet.Value{}, false, fmt.Errorf("column %s has %d values in one row, want 1", c.name, len(vs))
	}
	v := vs[0]
	if v.DefinitionLevel() < c.maxDef || v.IsNull() {
		return v, false, nil
	}
	if v.Kind() != c.kind {
		return v, false, fmt.Errorf("column %s holds a %v value, want %v", c.name, v.Kind(), c.kind)
	}
	return v, true, nil
}

// requiredScalar is scalar for a column that must not be null.
func (r rowValues) requiredScalar(c column) (parquet.Value, error) {
	v, ok, err := r.scalar(c)
	if err != nil {
		return v, err
	}
	if !ok {
		return v, fmt.Errorf("column %s is null", c.name)
	}
	return v, nil
}

// doubles returns the elements of a list<double> column (a null or empty
// list gives none; a null element is an error).
func (r rowValues) doubles(c column) ([]float64, error) {
	var out []float64
	for _, v := range r[c.index] {
		switch {
		case v.DefinitionLevel() == c.maxDef && !v.IsNull():
			if v.Kind() != parquet.Double {
				return nil, fmt.Errorf("column %s holds a %v value, want DOUBLE", c.name, v.Kind())
			}
			out = append(out, v.Double())
		case v.DefinitionLevel() == c.maxDef-1 && c.maxDef >= 1 && v.RepetitionLevel() > 0:
			return nil, fmt.Errorf("column %s has a null element", c.name)
		}
	}
	return out, nil
}

// stringLists returns a list<list<string>> column (Spark 3
// StringIndexerModel.labelsArray) as nested slices; with a single list
// level (Spark 2 labels) it returns one list.
func (r rowValues) stringLists(c column) ([][]string, error) {
	var out [][]string
	vals := r[c.index]
	switch c.maxRep {
	case 1: // optional labels (LIST) { repeated list { optional element } }
		var labels []string
		for _, v := range vals {
			switch {
			case v.DefinitionLevel() == c.maxDef && !v.IsNull():
				labels = append(labels, string(v.ByteArray()))
			case v.DefinitionLevel() == c.maxDef-1:
				return nil, fmt.Errorf("column %s has a null label", c.name)
			}
		}
		return [][]string{labels}, nil
	case 2: // labelsArray: outer list entries, each an inner list of labels
		innerDefined := c.maxDef - 2
		for _, v := range vals {
			if v.RepetitionLevel() < 2 && v.DefinitionLevel() >= innerDefined-1 {
				if v.DefinitionLevel() < innerDefined {
					return nil, fmt.Errorf("column %s has a null label list", c.name)
				}
				out = append(out, []string{})
			}
			switch {
			case v.DefinitionLevel() == c.maxDef && !v.IsNull():
				out[len(out)-1] = append(out[len(out)-1], string(v.ByteArray()))
			case v.DefinitionLevel() == c.maxDef-1:
				return nil, fmt.Errorf("column %s has a null label", c.name)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("column %s has %d repetition levels, want 1 or 2", c.name, c.maxRep)
}
