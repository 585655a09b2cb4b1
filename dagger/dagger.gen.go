// STAND-IN, NOT GENERATED. `dagger develop` (engine v0.21.8) replaces this
// file with the generated entry point, which declares dag and dispatches
// `dagger call <function>` to the methods of Datalab in main.go. It cannot
// run without an engine; this stand-in declares dag as the generated file
// does, so that main.go type-checks in CI (docs/dagger.md).
package main

import (
	"fmt"
	"os"

	"dagger/datalab/internal/dagger"
)

// dag is the client of the engine session the module runs in.
var dag = dagger.Connect()

func main() {
	fmt.Fprintln(os.Stderr, "datalab module: this is the stand-in entry point; run `dagger develop` to generate the real one, then `dagger call …`")
	os.Exit(2)
}
