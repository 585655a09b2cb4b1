// Command forestbench is the datalab side of the random forest benchmark
// (bench/forest/run.sh): it exports flights-3m to the CSV feature matrix all
// peers read, fits and scores datalab's forest on it, and renders the
// comparison table from every system's result.
//
//	forestbench export -in flights-3m.parquet -out DIR   # DIR/train.csv, DIR/test.csv
//	forestbench fit -train DIR/train.csv -test DIR/test.csv   # one JSON result line
//	forestbench report -dir DIR datalab sklearn xgbrf    # markdown table
//
// Features (columns of the CSV, in order), from one flight of flights-3m:
//
//	day_of_month       1..31, of the scheduled departure date
//	day_of_week        1 = Monday .. 7 = Sunday (the seed's convention)
//	day_of_year        1..366
//	dep_minute_of_day  hour·60 + minute of the scheduled departure
//	distance           miles
//	origin_index       StringIndexer index of the origin airport
//	dest_index         StringIndexer index of the destination airport
//	route_index        StringIndexer index of "ORIGIN-DEST"
//	label              arrival delay bucket, Bucketizer splits [-inf,-15,0,30,+inf]
//
// The indexes follow Spark's StringIndexer (frequencyDesc, ties
// alphabetical) fitted on the training rows, with handleInvalid=keep (an
// unseen value gets index = number of labels); every peer treats them as
// continuous numbers so all see the same numeric matrix. Rows without an
// arrival delay are dropped. The 80/20 split is a seeded permutation.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/datalabhq/datalab/flights/flightfeat"
	"github.com/datalabhq/datalab/pipeline/forest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: forestbench export|fit|report [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "export":
		err = runExport(os.Args[2:])
	case "fit":
		err = runFit(os.Args[2:])
	case "report":
		err = runReport(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want export, fit or report", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "forestbench:", err)
		os.Exit(1)
	}
}

// featureNames are the CSV header, label last.
var featureNames = []string{
	"day_of_month", "day_of_week", "day_of_year", "dep_minute_of_day",
	"distance", "origin_index", "dest_index", "route_index", "label",
}

// delaySplits are the seed's Bucketizer splits on the arrival delay.
var delaySplits = []float64{math.Inf(-1), -15, 0, 30, math.Inf(1)}

// bucket is Spark's Bucketizer: bucket i holds [s_i, s_{i+1}).
func bucket(x float64) int {
	for i := len(delaySplits) - 2; i >= 0; i-- {
		if x >= delaySplits[i] {
			return i
		}
	}
	return 0
}

type flight struct {
	Date        *int64  `parquet:"date"`
	Delay       *int64  `parquet:"delay"`
	Distance    *int64  `parquet:"distance"`
	Origin      *string `parquet:"origin"`
	Destination *string `parquet:"destination"`
}

func runExport(args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	in := fs.String("in", "", "flights-3m.parquet")
	out := fs.String("out", "", "output directory for train.csv and test.csv")
	seed := fs.Uint64("seed", 42, "seed of the 80/20 split permutation")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		return errors.New("export needs -in and -out")
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	r := parquet.NewGenericReader[flight](f)
	defer r.Close()
	type rec struct {
		when         time.Time
		delay, dist  int64
		origin, dest string
	}
	recs := make([]rec, 0, r.NumRows())
	buf := make([]flight, 4096)
	dropped := 0
	for {
		n, err := r.Read(buf)
		for _, fl := range buf[:n] {
			if fl.Date == nil || fl.Delay == nil || fl.Distance == nil || fl.Origin == nil || fl.Destination == nil {
				dropped++
				continue
			}
			// TIMESTAMP(isAdjustedToUTC=false): a wall-clock time, read as UTC.
			recs = append(recs, rec{time.UnixMicro(*fl.Date).UTC(), *fl.Delay, *fl.Distance, *fl.Origin, *fl.Destination})
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", *in, err)
		}
	}
	n := len(recs)
	perm := rand.New(rand.NewPCG(*seed, 0)).Perm(n)
	nTrain := n * 8 / 10
	train := perm[:nTrain]
	test := perm[nTrain:]
	slices.Sort(train)
	slices.Sort(test)

	// StringIndexer fitted on the training rows.
	index := func(key func(i int) string) map[string]int {
		counts := map[string]int{}
		for _, i := range train {
			counts[key(i)]++
		}
		labels := make([]string, 0, len(counts))
		for k := range counts {
			labels = append(labels, k)
		}
		slices.SortFunc(labels, func(a, b string) int {
			if counts[a] != counts[b] {
				return counts[b] - counts[a]
			}
			return strings.Compare(a, b)
		})
		m := make(map[string]int, len(labels))
		for i, l := range labels {
			m[l] = i
		}
		return m
	}
	originIdx := index(func(i int) string { return recs[i].origin })
	destIdx := index(func(i int) string { return recs[i].dest })
	routeIdx := index(func(i int) string { return flightfeat.Route(recs[i].origin, recs[i].dest) })
	lookup := func(m map[string]int, k string) int {
		if v, ok := m[k]; ok {
			return v
		}
		return len(m) // handleInvalid=keep
	}
	write := func(path string, rows []int) error {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		w.WriteString(strings.Join(featureNames, ",") + "\n")
		var b []byte
		for _, i := range rows {
			rc := &recs[i]
			t := rc.when
			dow := int(t.Weekday())
			if dow == 0 {
				dow = 7
			}
			vals := []int64{
				int64(t.Day()), int64(dow), int64(t.YearDay()), int64(t.Hour()*60 + t.Minute()),
				rc.dist, int64(lookup(originIdx, rc.origin)), int64(lookup(destIdx, rc.dest)),
				int64(lookup(routeIdx, rc.origin+"-"+rc.dest)), int64(bucket(float64(rc.delay))),
			}
			b = b[:0]
			for j, v := range vals {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendInt(b, v, 10)
			}
			b = append(b, '\n')
			w.Write(b)
		}
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if err := write(filepath.Join(*out, "train.csv"), train); err != nil {
		return err
	}
	if err := write(filepath.Join(*out, "test.csv"), test); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "exported %d train + %d test rows (%d dropped without delay); %d origins, %d destinations, %d routes\n",
		len(train), len(test), dropped, len(originIdx), len(destIdx), len(routeIdx))
	return nil
}

// readCSV reads the exported matrix: feature columns and labels.
func readCSV(path string) ([][]float64, []float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(bufio.NewReaderSize(f, 1<<20))
	if !sc.Scan() {
		return nil, nil, fmt.Errorf("%s: empty file", path)
	}
	nf := len(strings.Split(sc.Text(), ",")) - 1
	cols := make([][]float64, nf)
	var labels []float64
	line := 1
	for sc.Scan() {
		line++
		s := sc.Text()
		for j := 0; j <= nf; j++ {
			k := strings.IndexByte(s, ',')
			field := s
			if k >= 0 {
				field, s = s[:k], s[k+1:]
			} else if j < nf {
				return nil, nil, fmt.Errorf("%s line %d: %d fields, want %d", path, line, j+1, nf+1)
			}
			v, err := strconv.ParseFloat(field, 64)
			if err != nil {
				return nil, nil, fmt.Errorf("%s line %d field %d: %w", path, line, j+1, err)
			}
			if j < nf {
				cols[j] = append(cols[j], v)
			} else {
				labels = append(labels, v)
			}
		}
	}
	return cols, labels, sc.Err()
}

// result is one system's measurements, one JSON line per run.
type result struct {
	System            string    `json:"system"`
	FitSeconds        float64   `json:"fit_s"`
	PredictSeconds    float64   `json:"predict_s"`
	PredictRowsPerS   float64   `json:"predict_rows_per_s"`
	Accuracy          float64   `json:"accuracy"`
	TrainRows         int       `json:"train_rows"`
	TestRows          int       `json:"test_rows"`
	Threads           int       `json:"threads"`
	Config            string    `json:"config"`
	FeatureImportance []float64 `json:"feature_importances,omitempty"`
	PeakRSSKiB        int64     `json:"peak_rss_kib,omitempty"`
	// Per-seed measurements; the fields above are the median fit and predict
	// time and the mean accuracy over the seeds.
	FitAll      []float64 `json:"fit_s_all"`
	AccuracyAll []float64 `json:"accuracy_all"`
}

func runFit(args []string) error {
	fs := flag.NewFlagSet("fit", flag.ContinueOnError)
	trainPath := fs.String("train", "", "train.csv")
	testPath := fs.String("test", "", "test.csv")
	trees := fs.Int("trees", 20, "numTrees")
	depth := fs.Int("depth", 5, "maxDepth")
	bins := fs.Int("bins", 32, "maxBins")
	subset := fs.String("subset", "sqrt", "featureSubsetStrategy")
	seeds := fs.Int("seeds", 5, "number of seeds to fit (Spark's default seed, +1, +2, …)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cols, labels, err := readCSV(*trainPath)
	if err != nil {
		return err
	}
	testCols, testLabels, err := readCSV(*testPath)
	if err != nil {
		return err
	}
	p := forest.DefaultParams()
	p.NumTrees, p.MaxDepth, p.MaxBins, p.FeatureSubsetStrategy = *trees, *depth, *bins, *subset
	k, err := p.FeaturesPerNode(len(cols))
	if err != nil {
		return err
	}

	// Row-major test matrix (building it is not part of the timing).
	nf, rows := len(testCols), len(testLabels)
	x := make([]float64, rows*nf)
	for f, c := range testCols {
		for r, v := range c {
			x[r*nf+f] = v
		}
	}
	pred := make([]int32, rows)
	proba := make([]float64, rows*4)
	var fits, preds, accs []float64
	var importances []float64
	for i := 0; i < *seeds; i++ {
		p.Seed = forest.SparkDefaultSeed + int64(i)
		runtime.GC() // start each fit from the same heap state
		start := time.Now()
		m, err := forest.Fit(context.Background(), cols, labels, p, forest.WithNumClasses(4))
		if err != nil {
			return err
		}
		fits = append(fits, time.Since(start).Seconds())
		start = time.Now()
		s, err := m.Compile()
		if err != nil {
			return err
		}
		if err := s.PredictBatch(x, pred, proba); err != nil {
			return err
		}
		preds = append(preds, time.Since(start).Seconds())
		correct := 0
		for r, y := range testLabels {
			if float64(pred[r]) == y {
				correct++
			}
		}
		accs = append(accs, float64(correct)/float64(rows))
		if i == 0 {
			importances = m.FeatureImportances()
		}
	}
	res := result{
		System: "datalab", FitSeconds: median(fits), PredictSeconds: median(preds),
		PredictRowsPerS: float64(rows) / median(preds), Accuracy: mean(accs),
		TrainRows: len(labels), TestRows: rows, Threads: runtime.GOMAXPROCS(0),
		Config: fmt.Sprintf("forest.Fit numTrees=%d maxDepth=%d maxBins=%d featureSubsetStrategy=%s (%d of %d features/node), bootstrap Poisson(1), gini; seeds %d..%d",
			p.NumTrees, p.MaxDepth, p.MaxBins, *subset, k, len(cols), forest.SparkDefaultSeed, forest.SparkDefaultSeed+int64(*seeds-1)),
		FeatureImportance: importances,
		FitAll:            fits,
		AccuracyAll:       accs,
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mean(v []float64) float64 {
	t := 0.0
	for _, x := range v {
		t += x
	}
	return t / float64(len(v))
}

// maxRSS reads "Maximum resident set size (kbytes)" from /usr/bin/time -v.
func maxRSS(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if v, ok := strings.CutPrefix(l, "Maximum resident set size (kbytes): "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no maximum resident set size", path)
}

func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory with <system>.json and <system>.time")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var rs []result
	for _, name := range fs.Args() {
		b, err := os.ReadFile(filepath.Join(*dir, name+".json"))
		if err != nil {
			return err
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s.json: %w", name, err)
		}
		if r.PeakRSSKiB, err = maxRSS(filepath.Join(*dir, name+".time")); err != nil {
			return err
		}
		rs = append(rs, r)
	}
	if len(rs) == 0 || rs[0].System != "datalab" {
		return errors.New("report needs datalab first, then the peers")
	}
	d := rs[0]
	fmt.Printf("| system | fit s (median) | predict rows/s (median) | accuracy (mean) | accuracy min–max | peak RSS MiB | peer fit ÷ datalab fit | datalab predict ÷ peer predict | accuracy − datalab (pp) |\n")
	fmt.Printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		ratioFit, ratioPred, dAcc := "—", "—", "—"
		if r.System != "datalab" {
			ratioFit = fmt.Sprintf("%.1f×", r.FitSeconds/d.FitSeconds)
			ratioPred = fmt.Sprintf("%.1f×", d.PredictRowsPerS/r.PredictRowsPerS)
			dAcc = fmt.Sprintf("%+.2f", 100*(r.Accuracy-d.Accuracy))
		}
		fmt.Printf("| %s | %.2f | %s | %.4f | %.4f–%.4f | %d | %s | %s | %s |\n", r.System, r.FitSeconds,
			groupThousands(r.PredictRowsPerS), r.Accuracy, slices.Min(r.AccuracyAll), slices.Max(r.AccuracyAll),
			r.PeakRSSKiB/1024, ratioFit, ratioPred, dAcc)
	}
	fmt.Printf("\nTrain rows %d, test rows %d, %d seeds per system; per-seed fit seconds:", d.TrainRows, d.TestRows, len(d.FitAll))
	for _, r := range rs {
		fmt.Printf(" %s %s;", r.System, formatList(r.FitAll, "%.2f"))
	}
	fmt.Printf(" per-seed accuracy:")
	for _, r := range rs {
		fmt.Printf(" %s %s;", r.System, formatList(r.AccuracyAll, "%.4f"))
	}
	fmt.Printf("\n\n")
	for _, r := range rs {
		fmt.Printf("- %s: %s\n", r.System, r.Config)
	}
	if len(d.FeatureImportance) > 0 {
		fmt.Printf("\ndatalab feature importances (Spark's definition):")
		for i, v := range d.FeatureImportance {
			fmt.Printf(" %s %.3f", featureNames[i], v)
		}
		fmt.Println()
	}
	return nil
}

func formatList(v []float64, f string) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf(f, x)
	}
	return strings.Join(parts, " ")
}

func groupThousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
