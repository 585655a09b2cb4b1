package datasets

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/pipeline/lfspointer"
)

// The pointer format itself (decoding, encoding, the committed pointers, the
// fuzz target) is tested in package lfspointer.

func TestHashReaderOfNothingIsTheEmptyPointer(t *testing.T) {
	h, err := HashReader(bytes.NewReader(nil))
	if err != nil || h != (Pointer{Oid: lfspointer.EmptyOid, Size: 0}) {
		t.Errorf("hash of nothing = %v %v", h, err)
	}
}

func TestReadPointerFile(t *testing.T) {
	dir := t.TempDir()
	want, _ := HashReader(strings.NewReader("date,home_team,away_team\n"))
	good := filepath.Join(dir, "good"+PointerSuffix)
	os.WriteFile(good, want.Encode(), 0o644)
	if got, err := ReadPointerFile(good); err != nil || got != want {
		t.Errorf("ReadPointerFile = %+v, %v; want %+v", got, err, want)
	}
	// A file too large to be a pointer is read only up to the cutoff.
	big := filepath.Join(dir, "big"+PointerSuffix)
	os.WriteFile(big, append(want.Encode(), bytes.Repeat([]byte("\n"), 1<<20)...), 0o644)
	if _, err := ReadPointerFile(big); err == nil || !strings.Contains(err.Error(), big) || !strings.Contains(err.Error(), "pointers are under") {
		t.Errorf("ReadPointerFile of a 1 MB file: %v", err)
	}
	if _, err := ReadPointerFile(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("ReadPointerFile of a missing file: %v", err)
	}
}

func ExampleHashReader() {
	p, _ := HashReader(strings.NewReader("date,home_team,away_team\n"))
	fmt.Print(string(p.Encode()))
	// Output:
	// version https://git-lfs.github.com/spec/v1
	// oid sha256:38851e2fa1d657bd0882bf73a8f969aeb743d163cf724815b7ecf759e227ae3b
	// size 25
}
