package lfspointer

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"testing"

	"github.com/git-lfs/git-lfs/v3/lfs"
)

// This file compares the package with git-lfs's own Go package, the
// reference it replaces, while datalab still links it; the tables in
// lfspointer_test.go record the outcomes it checked.

// gitLFSDecode is git-lfs's decoder as it reads a pointer file or blob
// (lfs.DecodePointerFromFile, lfs.DecodePointerFromBlob): nothing of
// lfs.BlobSizeCutoff bytes or more, else lfs.DecodePointer.
func gitLFSDecode(data []byte) (*lfs.Pointer, bool) {
	if len(data) >= lfs.BlobSizeCutoff {
		return nil, false
	}
	p, err := lfs.DecodePointer(bytes.NewReader(data))
	return p, err == nil
}

func TestDecodeCasesAgreeWithGitLFS(t *testing.T) {
	if MaxSize != lfs.BlobSizeCutoff {
		t.Errorf("MaxSize %d, git-lfs's BlobSizeCutoff %d", MaxSize, lfs.BlobSizeCutoff)
	}
	for _, tt := range decodeCases {
		lp, ok := gitLFSDecode([]byte(tt.in))
		switch {
		case ok != tt.gitLFS:
			t.Errorf("%s: git-lfs accepts %q: %v, the table says %v", tt.name, tt.in, ok, tt.gitLFS)
		case ok && (lp.Oid != tt.want.Oid || lp.Size != tt.want.Size || lp.OidType != "sha256"):
			t.Errorf("%s: git-lfs decodes %q as %+v, the table says %+v", tt.name, tt.in, lp, tt.want)
		}
	}
}

func TestEncodeAgreesWithGitLFS(t *testing.T) {
	for _, tt := range encodeCases {
		if want := lfs.NewPointer(tt.p.Oid, tt.p.Size, nil).Encoded(); want != tt.want {
			t.Errorf("git-lfs encodes %+v as %q, the table says %q", tt.p, want, tt.want)
		}
	}
	sizes := []int64{0, 1, 9, 10, 99, 100, 1023, 1024, 3148074, math.MaxInt32, math.MaxInt32 + 1, 1 << 53, math.MaxInt64 - 1, math.MaxInt64}
	for i := range 1000 {
		sizes = append(sizes, int64(i)*7919, int64(i)<<uint(i%63))
	}
	for i, size := range sizes {
		sum := sha256.Sum256(binary.AppendVarint(nil, int64(i)))
		for _, oid := range []string{hex.EncodeToString(sum[:]), EmptyOid, realOid} {
			p := Pointer{oid, size}
			if got, want := string(p.Encode()), lfs.NewPointer(oid, size, nil).Encoded(); got != want {
				t.Fatalf("%+v.Encode() = %q, git-lfs writes %q", p, got, want)
			}
		}
	}
}

// FuzzDecodeAgreesWithGitLFS: whatever the input, Decode accepts it exactly
// when git-lfs does, with the same oid and size, except for the deliberate
// refusals (extensions; size 0 with another oid than the empty file's).
func FuzzDecodeAgreesWithGitLFS(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		lp, lok := gitLFSDecode(data)
		p, err := Decode(data)
		switch {
		case err == nil && !lok:
			t.Fatalf("Decode accepts %q as %+v, git-lfs refuses it", data, p)
		case err == nil && (p.Oid != lp.Oid || p.Size != lp.Size):
			t.Fatalf("Decode reads %q as %+v, git-lfs as %+v", data, p, lp)
		case err != nil && lok && len(lp.Extensions) == 0 && !(lp.Size == 0 && lp.Oid != EmptyOid):
			t.Fatalf("Decode refuses %q (%v), git-lfs accepts it as %+v", data, err, lp)
		}
	})
}
