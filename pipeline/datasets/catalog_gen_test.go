package datasets

import (
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/internal/testmirror"
)

// updateCatalog regenerates data/catalog.yaml and every pointer file from the
// mirror: go test ./pipeline/datasets -run TestRepoCatalog -update
var updateCatalog = flag.Bool("update", false, "regenerate data/catalog.yaml and the pointer files from the data mirror")

// declaredSet is how one mirror directory becomes a data set. It is the
// source of the committed catalog's set metadata and file list.
type declaredSet struct {
	info SetInfo
	// mirror is the set's directory (or single file) in the mirror.
	mirror string
	// only, when set, lists the mirror files (relative to mirror) that belong
	// to the set; otherwise every file under mirror does.
	only []string
	// url returns the origin URL of file rel, "" when no public URL serves
	// those exact bytes.
	url func(rel string) string
	// override gives a file its own format and schema.
	override map[string][2]string
}

func rawGitHub(repoRef, prefix string) func(string) string {
	return func(rel string) string {
		return "https://raw.githubusercontent.com/" + repoRef + "/" + prefix + rel
	}
}

const (
	sparkPipelineSchema = "spark-mllib-pipeline"
	textFile            = "text"
)

var declaredSets = []declaredSet{
	{
		info: SetInfo{Name: "matches", Format: "csv", Schema: "matches-kaggle-v1",
			Description: "International matches 1993-08-08…2022-06-14 with FIFA rank/points and EA squad scores (Kaggle brenda89/fifa-world-cup-2022), the exact file the World Cup app was trained on.",
			License:     "not stated (Kaggle data set brenda89/fifa-world-cup-2022)",
			Origin:      "https://github.com/gndaniela/itba-cde-final"},
		mirror: "matches/international_matches.csv",
		url:    rawGitHub("gndaniela/itba-cde-final/HEAD", "airflow_spark/dags/data/"),
	},
	{
		info: SetInfo{Name: "martj42", Format: "csv", Schema: "martj42-results-v1",
			Description: "All international football results 1872…2026 (incl. World Cup 2022), penalty shootouts and former team names.",
			License:     "CC0-1.0",
			Origin:      "https://github.com/martj42/international_results"},
		mirror: "matches/martj42",
		url:    rawGitHub("martj42/international_results/master", ""),
		override: map[string][2]string{
			"shootouts.csv":    {"csv", "martj42-shootouts-v1"},
			"former_names.csv": {"csv", "martj42-former-names-v1"},
			"LICENSE":          {textFile, "license"},
		},
	},
	{
		info: SetInfo{Name: "worldcup2022", Format: "csv", Schema: "maven-wc2022-matches-v1",
			Description: "FIFA World Cup 2022: the 32 teams with group and FIFA ranking, and the 64 fixtures (Maven Analytics World Cup set).",
			License:     "not stated",
			Origin:      "https://github.com/DataSoji/PowerBI-Portfolio"},
		mirror: "matches/worldcup2022",
		url:    rawGitHub("DataSoji/PowerBI-Portfolio/147a0c36c0e955be0de1c616bd20438da5ba5570", ""),
		override: map[string][2]string{
			"2022_world_cup_groups.csv": {"csv", "maven-wc2022-groups-v1"},
		},
	},
	{
		info: SetInfo{Name: "distances", Format: "jsonl", Schema: "flight-distances-v1",
			Description: "Airport-pair distances used by the flight-delay app ({\"Origin\",\"Dest\",\"Distance\"}), extracted from the MongoDB data directory committed in the course repository; no public URL serves this exact file, so it comes from the store or the mirror.",
			License:     "MIT (repository)",
			Origin:      "https://github.com/virginiaanton/FBID_practica_creativa"},
		mirror: "flights/origin_dest_distances.jsonl",
		url:    func(string) string { return "" },
	},
	{
		info: SetInfo{Name: "bts2008", Format: "csv-noheader", Schema: "bts-2008-29col",
			Description: "BTS airline on-time performance rows, April–June 2008, 7 files × 10,000 rows without header (29 columns, see README.md; nulls NA or \\N), with airport and carrier code tables (ASA Data Expo 2009).",
			License:     "Apache-2.0 (repository); US-government data",
			Origin:      "https://github.com/TrivadisPF/platys-modern-data-platform"},
		mirror: "flights/bts2008",
		url: func(rel string) string {
			base := "https://raw.githubusercontent.com/TrivadisPF/platys-modern-data-platform/HEAD/"
			switch {
			case strings.HasPrefix(rel, "flights_2008_"):
				return base + "test-data/flight-data/flights-small/" + rel
			case rel == "REPO_LICENSE_Apache-2.0.txt":
				return base + "LICENSE"
			default:
				return base + "test-data/flight-data/" + rel
			}
		},
		override: map[string][2]string{
			"airports.csv":                {"csv", "bts-2008-airports-v1"},
			"carriers.csv":                {"csv", "bts-2008-carriers-v1"},
			"README.md":                   {textFile, "readme"},
			"REPO_LICENSE_Apache-2.0.txt": {textFile, "license"},
		},
	},
	{
		info: SetInfo{Name: "bts2017", Format: "csv", Schema: "bts-2017-header",
			Description: "BTS on-time performance rows of 2017-01-01 with header (FL_DATE, CARRIER, ORIGIN, DEST, DEP_DELAY, ARR_DELAY, CANCELLED, …; no Distance, no FlightNum) and the BTS carrier lookup table.",
			License:     "not stated; US-government data",
			Origin:      "https://github.com/sotbar7/US-Flights-Python"},
		mirror: "flights/bts2017",
		url: func(rel string) string {
			if rel == "L_UNIQUE_CARRIERS.csv" {
				rel = "L_UNIQUE_CARRIERS.csv_" // its name upstream
			}
			return "https://raw.githubusercontent.com/sotbar7/US-Flights-Python/HEAD/" + rel
		},
		override: map[string][2]string{
			"L_UNIQUE_CARRIERS.csv": {"csv", "bts-carriers-lookup-v1"},
			"README.md":             {textFile, "readme"},
		},
	},
	{
		info: SetInfo{Name: "flights3m", Format: "parquet", Schema: "vega-flights-3m",
			Description: "3,000,000 US flights of 2001: date (timestamp), delay (arrival delay, min), distance, origin, destination (npm vega-datasets 3.2.1, data from BTS).",
			License:     "BSD-3-Clause (package); US-government data",
			Origin:      "https://www.npmjs.com/package/vega-datasets"},
		mirror: "flights/vega/flights-3m.parquet",
		url:    func(rel string) string { return "https://cdn.jsdelivr.net/npm/vega-datasets@3.2.1/data/" + rel },
	},
	{
		info: SetInfo{Name: "spark-flight-delay-3.3.3", Format: "spark-model", Schema: sparkPipelineSchema,
			Description: "Flight-delay models saved by the course's Spark 3.3.3 training job on the real 2015 data: Bucketizer, 4 StringIndexers, VectorAssembler, RandomForest (20 trees, depth 5, 4 classes, 9 features), one directory per stage.",
			License:     "MIT",
			Origin:      "https://github.com/lcampos01/BDFI_2024"},
		mirror: "spark-models/flight-delay-spark-3.3.3",
		url:    rawGitHub("lcampos01/BDFI_2024/HEAD", "models/"),
	},
	{
		info: SetInfo{Name: "spark-flight-delay-3.5.3", Format: "spark-model", Schema: sparkPipelineSchema,
			Description: "The same course models saved by Spark 3.5.3, plus stored_predictions.jsonl: 139 prediction documents its streaming job wrote to MongoDB (made with the four StringIndexer features null/NaN); the predictions were extracted from a MongoDB data directory, so they have no public URL.",
			License:     "MIT",
			Origin:      "https://github.com/virginiaanton/FBID_practica_creativa"},
		mirror: "spark-models/flight-delay-spark-3.5.3",
		url: func(rel string) string {
			if rel == "stored_predictions.jsonl" {
				return ""
			}
			return rawGitHub("virginiaanton/FBID_practica_creativa/f6fd3c259b156ee5a7f2c50251556b2383134d86", "models/")(rel)
		},
		override: map[string][2]string{
			"stored_predictions.jsonl": {"jsonl", "flight-delay-predictions-v1"},
		},
	},
	{
		info: SetInfo{Name: "spark-flight-delay-2.4.0", Format: "spark-model", Schema: sparkPipelineSchema,
			Description: "The same course models saved by Spark 2.4.0: the legacy format (no rawCount; StringIndexer labels instead of labelsArray).",
			License:     "not stated",
			Origin:      "https://github.com/BDFI/practica_big_data"},
		mirror: "spark-models/flight-delay-spark-2.4.0",
		url:    rawGitHub("BDFI/practica_big_data/HEAD", "models/"),
	},
	{
		info: SetInfo{Name: "spark-rf-2.3-4parts", Format: "spark-model", Schema: "spark-mllib-rf-classifier",
			Description: "A PySpark 2.3 RandomForestClassificationModel (10 trees) whose node table is split over 4 Parquet part files (test resource of spark-ml-serving).",
			License:     "Apache-2.0",
			Origin:      "https://github.com/Hydrospheredata/spark-ml-serving"},
		mirror: "spark-models/pyspark-2.3-rf-4parts",
		url:    rawGitHub("Hydrospheredata/spark-ml-serving/HEAD", "spark-2_2/src/test/resources/pyspark_models/py_rforest_cls/"),
	},
}

// mirrorFiles lists the mirror files of d as (rel in set, path in mirror).
func (d declaredSet) mirrorFiles(t *testing.T, mirror string) [][2]string {
	t.Helper()
	root := filepath.Join(mirror, filepath.FromSlash(d.mirror))
	st, err := os.Stat(root)
	if err != nil {
		t.Fatalf("set %s: %v", d.info.Name, err)
	}
	if !st.IsDir() {
		return [][2]string{{filepath.Base(root), d.mirror}}
	}
	var out [][2]string
	err = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		out = append(out, [2]string{rel, d.mirror + "/" + rel})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// generateCatalog declares every set of declaredSets in the catalog at
// dataDir through the same Add path `datalab data add` uses.
func generateCatalog(t *testing.T, dataDir, store, mirror string) *Catalog {
	t.Helper()
	c, err := OpenOrNew(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range declaredSets {
		if _, err := c.PutSet(d.info); err != nil {
			t.Fatal(err)
		}
		for _, mf := range d.mirrorFiles(t, mirror) {
			rel, mpath := mf[0], mf[1]
			o := d.override[rel]
			_, err := c.Add(d.info.Name, rel, filepath.Join(mirror, filepath.FromSlash(mpath)), AddOptions{
				Store: store, URL: d.url(rel), Mirror: mpath, Format: o[0], Schema: o[1],
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return c
}

// TestRepoCatalog checks that the committed data/catalog.yaml and pointer
// files are exactly what the declared sets and the mirror produce (and, with
// -update, rewrites them).
func TestRepoCatalog(t *testing.T) {
	mirror := testmirror.Dir(t)
	repoData := filepath.Join(testmirror.RepoRoot(), "data")
	if *updateCatalog {
		generateCatalog(t, repoData, filepath.Join(t.TempDir(), "store"), mirror)
	}
	want := t.TempDir()
	generateCatalog(t, want, filepath.Join(t.TempDir(), "store"), mirror)
	wantCat, err := Open(want)
	if err != nil {
		t.Fatal(err)
	}
	compareFile := func(rel string) {
		t.Helper()
		w, err := os.ReadFile(filepath.Join(want, rel))
		if err != nil {
			t.Fatal(err)
		}
		g, err := os.ReadFile(filepath.Join(repoData, rel))
		if err != nil {
			t.Errorf("committed %s: %v (regenerate with -update)", rel, err)
			return
		}
		if string(w) != string(g) {
			t.Errorf("committed data/%s differs from what the mirror produces:\n got %q\nwant %q\n(regenerate with: go test ./pipeline/datasets -run TestRepoCatalog -update)", rel, g, w)
		}
	}
	compareFile(CatalogFile)
	n := 0
	for _, s := range wantCat.Sets {
		for _, f := range s.Files {
			compareFile(filepath.Join(PointersDir, s.Name, filepath.FromSlash(f.Path)) + PointerSuffix)
			n++
		}
	}
	if n < 100 {
		t.Errorf("only %d files declared; the mirror's sets hold over 100", n)
	}
	// The committed catalog opens, and its pointers are the git-LFS bytes.
	repo, err := Open(repoData)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(repo.Names(), " "), strings.Join(wantCat.Names(), " "); got != want {
		t.Errorf("committed sets %q, want %q", got, want)
	}
}
