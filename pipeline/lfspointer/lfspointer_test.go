package lfspointer

import (
	"bytes"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
)

// realOid is the oid of data/matches/international_matches.csv.
const realOid = "1a7f6df7751eb39edb80b5c41afedbb27892762581c0755e52431a102386658b"

const (
	versionLine = "version " + Version
	oidLine     = "oid sha256:" + realOid
	sizeLine    = "size 3148074"
	extLine     = "ext-0-foo sha256:" + EmptyOid
)

// lines joins lines as a pointer file does, each ending in "\n".
func lines(l ...string) string { return strings.Join(l, "\n") + "\n" }

var (
	canonical = lines(versionLine, oidLine, sizeLine)
	real      = Pointer{realOid, 3148074}
)

// decodeCase is one pointer text, what git-lfs v3.8.1 made of it and what
// Decode must make of it. gitLFS is the outcome of git-lfs's file and blob
// decoders (lfs.DecodePointerFromFile: the size cutoff, then
// lfs.DecodePointer), checked by a differential test while datalab still
// linked git-lfs (gitlfs_test.go in commit 7303cd4, "lfspointer: git-LFS
// spec v1 pointer codec of its own"; check out that file and
// `go get github.com/git-lfs/git-lfs/v3@v3.8.1` to run it again); it stays
// as the record of what the reference decoder does.
type decodeCase struct {
	name string
	in   string
	// gitLFS: git-lfs accepts in, as want.
	gitLFS bool
	// want is the pointer decoded when gitLFS is set.
	want Pointer
	// err is empty when Decode returns want, else part of its error. With
	// gitLFS set it marks a deliberate difference: datalab refuses what
	// git-lfs accepts.
	err string
}

// accepted by both decoders.
func accept(name, in string, want Pointer) decodeCase { return decodeCase{name, in, true, want, ""} }

// rejected by both decoders; Decode's error contains err.
func reject(name, in, err string) decodeCase { return decodeCase{name, in, false, Pointer{}, err} }

// refused by datalab although git-lfs accepts it, as lfsWant.
func refuse(name, in string, lfsWant Pointer, err string) decodeCase {
	return decodeCase{name, in, true, lfsWant, err}
}

var decodeCases = []decodeCase{
	// Accepted, as git-lfs accepts them.
	accept("canonical", canonical, real),
	accept("empty input is the empty file", "", Pointer{EmptyOid, 0}),
	accept("no trailing newline", strings.TrimSuffix(canonical, "\n"), real),
	accept("pre-release version (hawser)", lines("version https://hawser.github.com/spec/v1", oidLine, sizeLine), real),
	accept("alpha version (git-media)", lines("version http://git-media.io/v/2", oidLine, sizeLine), real),
	accept("CRLF line ends", strings.ReplaceAll(canonical, "\n", "\r\n"), real),
	accept("CRLF, no final line end", strings.TrimSuffix(strings.ReplaceAll(canonical, "\n", "\r\n"), "\r\n"), real),
	accept("blank lines between", "version "+Version+"\n\n\n"+oidLine+"\r\n\r\n"+sizeLine+"\n", real),
	accept("white space before", "\n \t\n"+canonical, real),
	accept("white space after", canonical+"\n\n \t\v\f\r\n", real),
	accept("Unicode space after (TrimSpace)", canonical+"\u00a0\u2003", real),
	accept("size with leading zeros", lines(versionLine, oidLine, "size 0003148074"), real),
	accept("size with a plus sign", lines(versionLine, oidLine, "size +3148074"), real),
	accept("largest size", lines(versionLine, oidLine, "size 9223372036854775807"), Pointer{realOid, math.MaxInt64}),
	accept("size 1", lines(versionLine, oidLine, "size 1"), Pointer{realOid, 1}),
	accept("empty file written out", lines(versionLine, "oid sha256:"+EmptyOid, "size 0"), Pointer{EmptyOid, 0}),
	accept("empty file, size -0", lines(versionLine, "oid sha256:"+EmptyOid, "size -0"), Pointer{EmptyOid, 0}),
	accept("space and CRs after the last line (trimmed)", lines(versionLine, oidLine, sizeLine+" \r\r"), real),
	accept("1023 bytes", canonical+strings.Repeat("\n", MaxSize-1-len(canonical)), real),

	// Accepted by git-lfs, refused by datalab on purpose: it does not apply
	// extensions, and it cannot materialise a non-empty oid of size 0.
	refuse("extension", lines(versionLine, extLine, oidLine, sizeLine), real, "extension ext-0-foo"),
	refuse("two extensions", lines(versionLine, extLine, "ext-1-bar sha256:"+realOid, oidLine, sizeLine), real, "extension ext-0-foo"),
	refuse("extension before version", lines(extLine, versionLine, oidLine, sizeLine), real, "extension ext-0-foo"),
	refuse("extension between oid and size", lines(versionLine, oidLine, extLine, sizeLine), real, "extension ext-0-foo"),
	refuse("same extension twice", lines(versionLine, extLine, extLine, oidLine, sizeLine), real, "extension ext-0-foo"),
	refuse("extension name with a dash", lines(versionLine, "ext-0-foo-bar sha256:"+EmptyOid, oidLine, sizeLine), real, "extension ext-0-foo-bar"),
	refuse("size 0, other oid", lines(versionLine, oidLine, "size 0"), Pointer{realOid, 0}, "size 0 but oid "+realOid),

	// Rejected by both.
	reject("CSV content", "date,home_team,away_team\n1993-08-08,Bolivia,Uruguay\n", "not a git-LFS pointer"),
	reject("white space only", " \n\t\r\n", "no version line"),
	reject("one space", " ", "no version line"),
	reject("version line only", lines(versionLine), "no oid line"),
	reject("unknown version", lines("version https://git-lfs.github.com/spec/v9", oidLine, sizeLine), "unknown version"),
	reject("version with a trailing slash", lines(versionLine+"/", oidLine, sizeLine), "unknown version"),
	reject("version in capitals", lines("version HTTPS://GIT-LFS.GITHUB.COM/SPEC/V1", oidLine, sizeLine), "unknown version"),
	reject("version, two spaces", lines("version  "+Version, oidLine, sizeLine), "unknown version"),
	reject("version with trailing space", lines(versionLine+" ", oidLine, sizeLine), "unknown version"),
	reject("empty version", lines("version ", oidLine, sizeLine), "unknown version"),
	reject("no version", lines(oidLine, sizeLine), "where the version line belongs"),
	reject("oid before version", lines(oidLine, versionLine, sizeLine), "where the version line belongs"),
	reject("size before oid", lines(versionLine, sizeLine, oidLine), "where the oid line belongs"),
	reject("no oid", lines(versionLine, sizeLine), "where the oid line belongs"),
	reject("no size", lines(versionLine, oidLine), "no size line"),
	reject("unknown key after size", lines(versionLine, oidLine, sizeLine, "foo bar"), "after the size line"),
	reject("unknown key between", lines(versionLine, "foo bar", oidLine, sizeLine), "where the oid line belongs"),
	reject("unknown key sorted first", lines(versionLine, "aaa bar", oidLine, sizeLine), "where the oid line belongs"),
	reject("extension after size", lines(versionLine, oidLine, sizeLine, extLine), "after the size line"),
	reject("version twice", lines(versionLine, versionLine, oidLine, sizeLine), "where the oid line belongs"),
	reject("oid twice", lines(versionLine, oidLine, oidLine, sizeLine), "where the size line belongs"),
	reject("size twice", lines(versionLine, oidLine, sizeLine, sizeLine), "after the size line"),
	reject("sha1 oid", lines(versionLine, "oid sha1:"+realOid[:40], sizeLine), "oid type \"sha1\""),
	reject("sha512 oid", lines(versionLine, "oid sha512:"+realOid+realOid, sizeLine), "oid type \"sha512\""),
	reject("SHA256 in capitals", lines(versionLine, "oid SHA256:"+realOid, sizeLine), "oid type"),
	reject("oid without method", lines(versionLine, "oid "+realOid, sizeLine), "no hash method"),
	reject("oid, space for colon", lines(versionLine, "oid sha256 "+realOid, sizeLine), "no hash method"),
	reject("short oid", lines(versionLine, "oid sha256:"+realOid[:63], sizeLine), "not 64 hex digits"),
	reject("long oid", lines(versionLine, "oid sha256:"+realOid+"0", sizeLine), "not 64 hex digits"),
	reject("upper-case oid", lines(versionLine, "oid sha256:"+strings.ToUpper(realOid), sizeLine), "not lower-case hex"),
	reject("non-hex oid", lines(versionLine, "oid sha256:"+realOid[:63]+"g", sizeLine), "not lower-case hex"),
	reject("oid with trailing space", lines(versionLine, oidLine+" ", sizeLine), "not 64 hex digits"),
	reject("empty oid", lines(versionLine, "oid sha256:", sizeLine), "not 64 hex digits"),
	reject("negative size", lines(versionLine, oidLine, "size -1"), "invalid size \"-1\""),
	reject("size overflows int64", lines(versionLine, oidLine, "size 9223372036854775808"), "invalid size"),
	reject("size with letters", lines(versionLine, oidLine, "size 12a"), "invalid size"),
	reject("fractional size", lines(versionLine, oidLine, "size 1.5"), "invalid size"),
	reject("size in exponent form", lines(versionLine, oidLine, "size 1e3"), "invalid size"),
	reject("hexadecimal size", lines(versionLine, oidLine, "size 0x10"), "invalid size"),
	reject("size with underscores", lines(versionLine, oidLine, "size 1_000"), "invalid size"),
	reject("size, two spaces", lines(versionLine, oidLine, "size  12"), "invalid size"),
	reject("empty size, trimmed to a bare key", lines(versionLine, oidLine, "size "), "is not \"key value\""),
	reject("key without value", lines(versionLine, oidLine, "size"), "is not \"key value\""),
	reject("tab for space", lines(versionLine, oidLine, "size\t12"), "is not \"key value\""),
	reject("space before key", lines(versionLine, " "+oidLine, sizeLine), "where the oid line belongs"),
	reject("two CRs at a line end", lines(versionLine, oidLine+"\r\r", sizeLine), "not 64 hex digits"),
	reject("old Mac line ends (CR)", strings.ReplaceAll(canonical, "\n", "\r"), "unknown version"),
	reject("byte order mark", "\ufeff"+canonical, "where the version line belongs"),
	reject("NUL after the size", lines(versionLine, oidLine, sizeLine+"\x00"), "invalid size"),
	reject("comment line", lines("# git-lfs pointer", versionLine, oidLine, sizeLine), "where the version line belongs"),
	reject("extension priority of two digits", lines(versionLine, "ext-10-foo sha256:"+EmptyOid, oidLine, sizeLine), "where the oid line belongs"),
	reject("extension without name", lines(versionLine, "ext-0- sha256:"+EmptyOid, oidLine, sizeLine), "where the oid line belongs"),
	reject("extension with a bad oid", lines(versionLine, "ext-0-foo sha256:abc", oidLine, sizeLine), "extension ext-0-foo"),
	reject("extensions of one priority", lines(versionLine, extLine, "ext-0-bar sha256:"+EmptyOid, oidLine, sizeLine), "extension ext-0-foo"),
	reject("extension with a bad oid, bad size", lines(versionLine, "ext-0-foo sha1:abc", oidLine, "size x"), "invalid size"),
	reject("1024 bytes", canonical+strings.Repeat("\n", MaxSize-len(canonical)), "pointers are under 1024"),
	reject("pointer then data", canonical+strings.Repeat("#", 1024), "pointers are under 1024"),
}

func TestDecode(t *testing.T) {
	for _, tt := range decodeCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Decode(%q) = %+v, %v; want an error containing %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Decode(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

// encodeCases are pointers and the exact bytes git-lfs writes for them
// (lfs.NewPointer(oid, size, nil).Encoded(), compared by the differential
// test of commit 7303cd4, with ~6,000 more oid/size pairs).
var encodeCases = []struct {
	p    Pointer
	want string
}{
	{Pointer{EmptyOid, 0}, ""},
	{Pointer{realOid, 0}, ""}, // size 0 is the empty file, whatever the oid
	{Pointer{realOid, 1}, "version https://git-lfs.github.com/spec/v1\noid sha256:" + realOid + "\nsize 1\n"},
	{Pointer{realOid, 3148074}, "version https://git-lfs.github.com/spec/v1\noid sha256:" + realOid + "\nsize 3148074\n"},
	{Pointer{EmptyOid, 1023}, "version https://git-lfs.github.com/spec/v1\noid sha256:" + EmptyOid + "\nsize 1023\n"},
	{Pointer{strings.Repeat("0", 64), 1 << 40}, "version https://git-lfs.github.com/spec/v1\noid sha256:" + strings.Repeat("0", 64) + "\nsize 1099511627776\n"},
	{Pointer{strings.Repeat("f", 64), math.MaxInt64}, "version https://git-lfs.github.com/spec/v1\noid sha256:" + strings.Repeat("f", 64) + "\nsize 9223372036854775807\n"},
	{Pointer{"", 5}, "version https://git-lfs.github.com/spec/v1\noid sha256:\nsize 5\n"}, // not checked
	{Pointer{realOid, -1}, "version https://git-lfs.github.com/spec/v1\noid sha256:" + realOid + "\nsize -1\n"},
}

func TestEncodeIsGitLFSBytes(t *testing.T) {
	for _, tt := range encodeCases {
		if got := string(tt.p.Encode()); got != tt.want {
			t.Errorf("%+v.Encode() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

// committedPointers returns the repository's pointer files (every file under
// data/pointers, the declarations of package datasets), by path.
func committedPointers(t testing.TB) map[string][]byte {
	out := map[string][]byte{}
	dir := filepath.Join(testmirror.RepoRoot(), "data", "pointers")
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = b
		return err
	})
	if err != nil || len(out) < 100 {
		t.Fatalf("%d pointer files under %s: %v", len(out), dir, err)
	}
	return out
}

// TestCommittedPointersAreCanonical: every pointer file in the repository
// decodes, and encoding it again gives the same bytes, so reading and
// rewriting the catalog never changes a pointer.
func TestCommittedPointersAreCanonical(t *testing.T) {
	empty := 0
	for path, b := range committedPointers(t) {
		p, err := Decode(b)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if !bytes.Equal(p.Encode(), b) {
			t.Errorf("%s: %q is not the canonical encoding %q", path, b, p.Encode())
		}
		if p.Size == 0 {
			empty++
		}
	}
	if empty == 0 {
		t.Error("no empty file's pointer among the committed pointers (Spark's _SUCCESS files)")
	}
}

// addSeeds seeds a fuzz target with the committed pointers and the table's texts.
func addSeeds(f *testing.F) {
	for _, b := range committedPointers(f) {
		f.Add(b)
	}
	for _, tt := range decodeCases {
		f.Add([]byte(tt.in))
	}
}

func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode(data)
		if err != nil {
			return
		}
		if len(p.Oid) != 64 || p.Size < 0 || (p.Size == 0 && p.Oid != EmptyOid) {
			t.Fatalf("accepted an invalid pointer %+v from %q", p, data)
		}
		enc := p.Encode()
		q, err := Decode(enc)
		if err != nil || q != p {
			t.Fatalf("re-encoding %+v as %q decodes to %+v, %v", p, enc, q, err)
		}
		if !bytes.Equal(q.Encode(), enc) {
			t.Fatalf("encoding is not stable: %q vs %q", q.Encode(), enc)
		}
	})
}

func ExampleDecode() {
	p, err := Decode([]byte("version https://git-lfs.github.com/spec/v1\noid sha256:38851e2fa1d657bd0882bf73a8f969aeb743d163cf724815b7ecf759e227ae3b\nsize 25\n"))
	fmt.Println(p, err)
	_, err = Decode([]byte("date,home_team,away_team\n"))
	fmt.Println(err)
	// Output:
	// sha256:38851e2fa1d657bd0882bf73a8f969aeb743d163cf724815b7ecf759e227ae3b (25 bytes) <nil>
	// not a git-LFS pointer: line "date,home_team,away_team" is not "key value"
}

func ExamplePointer_Encode() {
	p := Pointer{Oid: "38851e2fa1d657bd0882bf73a8f969aeb743d163cf724815b7ecf759e227ae3b", Size: 25}
	fmt.Print(string(p.Encode()))
	// Output:
	// version https://git-lfs.github.com/spec/v1
	// oid sha256:38851e2fa1d657bd0882bf73a8f969aeb743d163cf724815b7ecf759e227ae3b
	// size 25
}

func BenchmarkDecode(b *testing.B) {
	data := []byte(canonical)
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	for b.Loop() {
		real.Encode()
	}
}
