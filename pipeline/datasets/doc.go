// Package datasets declares the lab's input data sets and materialises them.
//
// It is the first stage of the flow: data/ (declared data sets) → ingest →
// features → forest → evaluate → report. Nothing in it knows about later
// stages; they call [Open] and read the files it materialised.
//
// A data set is a directory data/<set>/ of files. Git versions only what
// declares them: data/catalog.yaml (origin URL, license, format and schema id
// of every set and file) and, for each working file data/<set>/<path>, a
// pointer file data/pointers/<set>/<path>.pointer in the git-LFS pointer
// format (spec v1: version, oid sha256:<hex>, size), written and parsed by
// package lfspointer. The working files themselves are git-ignored. The
// pointers sit in their own tree so that a materialised directory holds only
// the data set's files (Spark would try to read a part-00000.pointer).
//
// [Catalog.Pull] materialises the working files. For each file it tries, in
// order, the local object store (laid out like .git/lfs/objects/ab/cd/<oid>),
// a mirror directory, and the file's origin URL; whatever the source, the
// bytes are verified against the pointer's sha256 and size before they are
// published (atomically) into the store and the working path, and a source
// with wrong bytes is reported and skipped. A working file the user changed is
// never overwritten unless [PullOptions.Force] is set. [Catalog.Status] reports
// each set as present, missing or modified, and [Catalog.Declare] declares a
// new or changed file (`datalab data add`): it finds the file's set, creates
// or updates the set ([Catalog.PutSet], the format guessed by
// [FormatFromExt]) and adds the file ([Catalog.Add]).
//
// The oid of each file (its sha256) is what later stages key their caches on:
// see [Set.Oids] and [Set.Digest].
package datasets
