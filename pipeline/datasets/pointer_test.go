package datasets

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
)

const realOid = "1a7f6df7751eb39edb80b5c41afedbb27892762581c0755e52431a102386658b"

func TestDecodePointer(t *testing.T) {
	canonical := "version https://git-lfs.github.com/spec/v1\noid sha256:" + realOid + "\nsize 3148074\n"
	tests := []struct {
		name, in string
		want     Pointer
		err      string
	}{
		{"real pointer", canonical, Pointer{realOid, 3148074}, ""},
		{"empty file", "", Pointer{EmptyOid, 0}, ""},
		{"no trailing newline", strings.TrimSuffix(canonical, "\n"), Pointer{realOid, 3148074}, ""},
		{"pre-release version alias", strings.Replace(canonical, "https://git-lfs.github.com/spec/v1", "https://hawser.github.com/spec/v1", 1), Pointer{realOid, 3148074}, ""},
		{"unknown version", strings.Replace(canonical, "spec/v1", "spec/v9", 1), Pointer{}, "Invalid version"},
		{"sha1 oid", strings.Replace(canonical, "sha256:", "sha1:", 1), Pointer{}, "OID type"},
		{"short oid", strings.Replace(canonical, realOid, realOid[:10], 1), Pointer{}, "Invalid OID"},
		{"upper-case oid", strings.Replace(canonical, realOid, strings.ToUpper(realOid), 1), Pointer{}, "Invalid OID"},
		{"negative size", strings.Replace(canonical, "3148074", "-1", 1), Pointer{}, "invalid size"},
		{"missing size", strings.Replace(canonical, "size 3148074\n", "", 1), Pointer{}, "invalid size"},
		{"keys out of order", "oid sha256:" + realOid + "\nversion https://git-lfs.github.com/spec/v1\nsize 1\n", Pointer{}, "pointer"},
		{"extension", "version https://git-lfs.github.com/spec/v1\next-0-foo sha256:" + realOid + "\noid sha256:" + realOid + "\nsize 3\n", Pointer{}, "extensions"},
		{"zero size, other oid", strings.Replace(canonical, "3148074", "0", 1), Pointer{}, "size 0"},
		{"csv content", "date,home_team,away_team\n1993-08-08,Bolivia,Uruguay\n", Pointer{}, "not a git-LFS pointer"},
		{"too large", canonical + strings.Repeat("#", 1024), Pointer{}, "pointers are under"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodePointer([]byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestEncodeIsGitLFSBytes(t *testing.T) {
	p := Pointer{realOid, 3148074}
	want := "version https://git-lfs.github.com/spec/v1\noid sha256:" + realOid + "\nsize 3148074\n"
	if got := string(p.Encode()); got != want {
		t.Errorf("Encode = %q, want %q", got, want)
	}
	if got := (Pointer{EmptyOid, 0}).Encode(); len(got) != 0 {
		t.Errorf("empty file pointer = %q, want empty", got)
	}
	h, err := HashReader(bytes.NewReader(nil))
	if err != nil || h != (Pointer{EmptyOid, 0}) {
		t.Errorf("hash of nothing = %v %v", h, err)
	}
}

// realPointers returns the committed pointer files, the fuzz seeds.
func realPointers(t testing.TB) [][]byte {
	matches, err := filepath.Glob(filepath.Join(testmirror.RepoRoot(), "data", PointersDir, "*", "*"+PointerSuffix))
	if err != nil || len(matches) == 0 {
		t.Fatalf("no committed pointer files found: %v", err)
	}
	deeper, _ := filepath.Glob(filepath.Join(testmirror.RepoRoot(), "data", PointersDir, "spark-rf-2.3-4parts", "*", "*"+PointerSuffix))
	var out [][]byte
	for _, m := range append(matches, deeper...) {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestCommittedPointersAreCanonical(t *testing.T) {
	for _, b := range realPointers(t) {
		p, err := DecodePointer(b)
		if err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		if !bytes.Equal(p.Encode(), b) {
			t.Errorf("%q is not the canonical encoding %q", b, p.Encode())
		}
	}
}

func FuzzDecodePointer(f *testing.F) {
	for _, b := range realPointers(f) {
		f.Add(b)
	}
	f.Add([]byte("version https://git-lfs.github.com/spec/v1\n\noid sha256:" + realOid + "\r\nsize 00012\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePointer(data)
		if err != nil {
			return
		}
		if len(p.Oid) != 64 || p.Size < 0 || (p.Size == 0 && p.Oid != EmptyOid) {
			t.Fatalf("accepted an invalid pointer %+v from %q", p, data)
		}
		enc := p.Encode()
		q, err := DecodePointer(enc)
		if err != nil || q != p {
			t.Fatalf("re-encoding %+v as %q decodes to %+v, %v", p, enc, q, err)
		}
		if !bytes.Equal(q.Encode(), enc) {
			t.Fatalf("encoding is not stable: %q vs %q", q.Encode(), enc)
		}
	})
}

func ExamplePointer_Encode() {
	p, _ := HashReader(strings.NewReader("date,home_team,away_team\n"))
	fmt.Print(string(p.Encode()))
	// Output:
	// version https://git-lfs.github.com/spec/v1
	// oid sha256:38851e2fa1d657bd0882bf73a8f969aeb743d163cf724815b7ecf759e227ae3b
	// size 25
}

func BenchmarkDecodePointer(b *testing.B) {
	data := []byte("version https://git-lfs.github.com/spec/v1\noid sha256:" + realOid + "\nsize 3148074\n")
	for b.Loop() {
		if _, err := DecodePointer(data); err != nil {
			b.Fatal(err)
		}
	}
}
