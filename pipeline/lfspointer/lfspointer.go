// Package lfspointer reads and writes git-LFS pointer files (spec v1): the
// few lines git versions in place of a large file, naming its sha256 and size.
//
// It sits under the data flow rather than in it: package datasets declares
// each data file by a pointer (data/pointers/<set>/<path>.pointer), and
// package stagerun hashes a pointer as the content it stands for, so a
// dependency's cache key is the same before and after the file is pulled.
// Both read pointers through [Decode] and write them through
// [Pointer.Encode], so there is one idea of what a pointer is.
//
// The format is https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md.
// [Decode] accepts what git-lfs's own decoder accepts (including its
// leniencies: surrounding white space, blank lines, CRLF line ends, the two
// pre-release version URLs, a size with leading zeros or a plus sign) with two
// deliberate refusals: pointer extensions (ext-N-name lines), which datalab
// does not apply, and a size-0 pointer whose oid is not the empty file's.
// [Pointer.Encode] writes exactly the bytes git-lfs writes. The package
// replaces git-lfs's Go package, whose initialisation starts several git
// processes in every program that links it.
package lfspointer

import (
	"bytes"
	"fmt"
	"strconv"
)

// MaxSize is the size cutoff: a pointer file is smaller than MaxSize bytes,
// so a larger file is never read as a pointer (git-lfs's BlobSizeCutoff).
const MaxSize = 1024

// Version is the version URL every pointer is written with.
const Version = "https://git-lfs.github.com/spec/v1"

// versions are the version URLs a pointer may be read with: the alpha's, the
// pre-release's (hawser) and the published one. git-lfs reads all three and
// writes only [Version].
var versions = [...]string{"http://git-media.io/v/2", "https://hawser.github.com/spec/v1", Version}

// EmptyOid is the sha256 of zero bytes: the oid of an empty file, whose
// pointer is the empty file itself.
const EmptyOid = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// Pointer is the content of a git-LFS pointer file: the sha256 and size of
// the real file it stands for.
type Pointer struct {
	Oid  string // lower-case hex sha256 of the content
	Size int64  // content length in bytes
}

// Encode returns the spec v1 bytes of p, exactly as git-lfs writes them:
//
//	version https://git-lfs.github.com/spec/v1
//	oid sha256:<Oid>
//	size <Size>
//
// each line ending in "\n". A pointer of size 0 encodes as no bytes at all,
// whatever its oid: an empty file is its own pointer. Encode does not check
// p; [Decode] of the result does.
func (p Pointer) Encode() []byte {
	if p.Size == 0 {
		return []byte{}
	}
	b := make([]byte, 0, len("version \noid sha256:\nsize \n")+len(Version)+len(p.Oid)+20)
	b = append(b, "version "+Version+"\noid sha256:"...)
	b = append(b, p.Oid...)
	b = append(b, "\nsize "...)
	b = strconv.AppendInt(b, p.Size, 10)
	return append(b, '\n')
}

// String is the oid and size, for messages.
func (p Pointer) String() string { return fmt.Sprintf("sha256:%s (%d bytes)", p.Oid, p.Size) }

// keys are the pointer's keys in the order the spec requires.
var keys = [...]string{"version", "oid", "size"}

// Decode parses a pointer file. Empty input is the pointer of an empty file.
// Otherwise, after white space around the whole text is trimmed, the
// non-blank lines (a line may end in "\r\n") must be exactly "version <url>",
// "oid sha256:<64 lower-case hex digits>" and "size <decimal>", in that order,
// each key and value separated by one space, the url one of the version URLs
// git-lfs reads, and the size at least 0. Input of [MaxSize] bytes or more is
// not a pointer.
//
// A pointer with extension lines ("ext-0-name sha256:…", which git-lfs
// accepts anywhere before the size line) is refused, as is a size-0 pointer
// whose oid is not [EmptyOid]: datalab could not materialise either.
func Decode(data []byte) (Pointer, error) {
	if len(data) == 0 {
		return Pointer{Oid: EmptyOid}, nil
	}
	if len(data) >= MaxSize {
		return Pointer{}, fmt.Errorf("not a git-LFS pointer: %d bytes, pointers are under %d", len(data), MaxSize)
	}
	var values [len(keys)][]byte
	n := 0         // keys found so far
	var ext []byte // the first extension key, if any
	for rest := bytes.TrimSpace(data); len(rest) > 0; {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			continue
		}
		key, value, ok := bytes.Cut(line, []byte{' '})
		switch {
		case !ok:
			return Pointer{}, fmt.Errorf("not a git-LFS pointer: line %q is not \"key value\"", line)
		case n == len(keys):
			return Pointer{}, fmt.Errorf("not a git-LFS pointer: line %q after the size line", line)
		case string(key) == keys[n]:
			values[n] = value
			n++
		case isExtensionKey(key):
			if ext == nil {
				ext = key
			}
		default:
			return Pointer{}, fmt.Errorf("not a git-LFS pointer: line %q where the %s line belongs", line, keys[n])
		}
	}
	if !knownVersion(values[0]) {
		if n == 0 {
			return Pointer{}, fmt.Errorf("not a git-LFS pointer: no version line")
		}
		return Pointer{}, fmt.Errorf("not a git-LFS pointer: unknown version %q, want %s", values[0], Version)
	}
	if n < 2 {
		return Pointer{}, fmt.Errorf("not a git-LFS pointer: no oid line")
	}
	oid, err := parseOid(values[1])
	if err != nil {
		return Pointer{}, err
	}
	if n < 3 {
		return Pointer{}, fmt.Errorf("not a git-LFS pointer: no size line")
	}
	size, err := strconv.ParseInt(string(values[2]), 10, 64)
	if err != nil || size < 0 {
		return Pointer{}, fmt.Errorf("not a git-LFS pointer: invalid size %q, want a decimal byte count", values[2])
	}
	if ext != nil {
		return Pointer{}, fmt.Errorf("git-LFS pointer uses extension %s, which datalab does not apply", ext)
	}
	if size == 0 && oid != EmptyOid {
		return Pointer{}, fmt.Errorf("git-LFS pointer declares size 0 but oid %s (an empty file's oid is %s)", oid, EmptyOid)
	}
	return Pointer{Oid: oid, Size: size}, nil
}

func knownVersion(v []byte) bool {
	for _, known := range versions {
		if string(v) == known {
			return true
		}
	}
	return false
}

// parseOid checks an oid value, "sha256:" and 64 lower-case hex digits, and
// returns the digits.
func parseOid(v []byte) (string, error) {
	method, sum, ok := bytes.Cut(v, []byte{':'})
	if !ok {
		return "", fmt.Errorf("not a git-LFS pointer: oid %q has no hash method (sha256:…)", v)
	}
	if string(method) != "sha256" {
		return "", fmt.Errorf("git-LFS pointer has oid type %q, want sha256", method)
	}
	if len(sum) != 64 {
		return "", fmt.Errorf("not a git-LFS pointer: oid %q is not 64 hex digits", sum)
	}
	for _, c := range sum {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", fmt.Errorf("not a git-LFS pointer: oid %q is not lower-case hex", sum)
		}
	}
	return string(sum), nil
}

// isExtensionKey reports whether key starts like an extension's,
// "ext-<priority digit>-<name>", the lines git-lfs's decoder takes for
// extensions wherever they appear before the size line.
func isExtensionKey(key []byte) bool {
	return len(key) > len("ext-0-") && bytes.HasPrefix(key, []byte("ext-")) &&
		'0' <= key[4] && key[4] <= '9' && key[5] == '-' && isWordByte(key[6])
}

func isWordByte(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}
