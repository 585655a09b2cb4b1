// STAND-IN, NOT GENERATED. `dagger develop` (engine v0.21.8) replaces this
// file with the module's generated client; it cannot run without an engine,
// so this stand-in declares just the part of that API that ../../main.go
// uses, so that the module's glue type-checks in CI (docs/dagger.md).
//
// The generated client and the SDK's dagger.io/dagger are produced by the same
// codegen from the same engine schema, so the core types here are the SDK's
// own: the method names and signatures the glue is checked against (ID,
// LoadDirectoryFromID, …) are the real v0.21.8 ones. What differs in the real
// file is only that the types are declared there rather than aliased.
package dagger

import (
	"context"

	sdk "dagger.io/dagger"
	"dagger.io/dagger/engineconn"
)

// The core types the module's functions take and return.
type (
	Client      = sdk.Client
	Directory   = sdk.Directory
	Secret      = sdk.Secret
	ID          = sdk.ID
	DirectoryID = sdk.DirectoryID
	SecretID    = sdk.SecretID
	ExecError   = sdk.ExecError
)

// Connect returns the client of the engine session the module runs in. Like
// the generated one, it panics outside a session: it only reads
// DAGGER_SESSION_PORT and DAGGER_SESSION_TOKEN (and never downloads a CLI).
func Connect() *Client {
	conn, ok, err := engineconn.FromSessionEnv()
	if err != nil {
		panic(err)
	}
	if !ok {
		panic("DAGGER_SESSION_PORT is not set: the datalab module runs inside a Dagger engine session (`dagger call …`)")
	}
	c, err := sdk.Connect(context.Background(), sdk.WithConn(conn))
	if err != nil {
		panic(err)
	}
	return c
}
