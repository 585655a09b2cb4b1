package datasets_test

import (
	"fmt"
	"log"

	"github.com/datalabhq/datalab/pipeline/datasets"
)

// Open the committed catalog and look up a file's working path and oid, as
// a later stage does before reading it.
func ExampleOpen() {
	cat, err := datasets.Open("../../data")
	if err != nil {
		log.Fatal(err)
	}
	set, err := cat.Set("matches")
	if err != nil {
		log.Fatal(err)
	}
	f := set.Files[0]
	fmt.Println(set.WorkingPath(f))
	fmt.Println(set.FileFormat(f), set.FileSchema(f), f.Size)
	fmt.Println(set.Oids()["international_matches.csv"])
	// Output:
	// ../../data/matches/international_matches.csv
	// csv matches-kaggle-v1 3148074
	// 1a7f6df7751eb39edb80b5c41afedbb27892762581c0755e52431a102386658b
}
